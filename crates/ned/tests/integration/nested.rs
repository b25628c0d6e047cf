//! A ned started by ned (spec §6): the inner ned receives its caps as any
//! task does and finds them in its own `L4.Env`; an inherited `rom` is its
//! rom, where its boot script may live.

use crate::util::{Sandbox, ned_bin, path_str};

#[test]
fn inner_ned_sees_granted_caps_in_its_env() {
    let sb = Sandbox::new();
    sb.file(
        "inner.lua",
        r#"
local L4 = require("L4")
assert(L4.Env.svc and tostring(L4.Env.svc):find("Ipc_gate"), "svc is a channel")
assert(tostring(L4.Env.data):find("Dataspace"), "data is a dataspace")
assert(L4.Env.rom:query("inner.lua")(), "rom is the outer task's rom")
assert(L4.Env.other == nil)
print("inner saw svc data rom")
"#,
    );
    let src = format!(
        r#"
local L4 = require("L4")
local ld = L4.default_loader
local chan = ld:new_channel()
local data = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 100)
local t = ld:startv({{ caps = {{ svc = chan:svr(), data = data }}, log = {{ "inner", "m" }} }},
  "{}", "--wait-and-exit", "rom/inner.lua")
print("inner exited " .. tostring(t:wait()))
"#,
        path_str(&ned_bin())
    );
    let out = sb.wait_and_exit(&src);
    out.ok().no_lua_error();
    out.stdout_has("inner | inner saw svc data rom")
        .stdout_has("inner exited 0");
}

/// `LISTEN_*` meant for another process, or malformed, is ignored.
#[test]
fn foreign_or_malformed_listen_variables_are_ignored() {
    let sb = Sandbox::new();
    let script = sb.file(
        "env.lua",
        "local L4 = require('L4')\nassert(L4.Env.x == nil and L4.Env.fd3 == nil)\nprint('clean env')\n",
    );
    for (fds, pid, names) in [
        ("1", "1", "x"),
        ("garbage", "", ""),
        ("99999999", "1", ":::"),
    ] {
        let mut cmd = sb.command(&["--exit", path_str(&script)]);
        cmd.env("LISTEN_FDS", fds)
            .env("LISTEN_PID", pid)
            .env("LISTEN_FDNAMES", names);
        let out = crate::util::run(&mut cmd);
        out.ok().no_lua_error().stdout_has("clean env");
    }
}
