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

/// `LISTEN_*` is checked before anything is adopted: variables meant for
/// another process, a malformed or implausible count, empty names, and fds
/// that are not open. ned is started through `sh`, which opens the file as
/// fd 3, closes fd 4, sets `LISTEN_PID` to its own pid (kept by `exec`)
/// unless the case gives another, and execs ned; the script reports which
/// names it was given.
#[test]
fn listen_variables_are_checked_before_adoption() {
    let sb = Sandbox::new();
    let script = sb.file(
        "env.lua",
        "local L4 = require('L4')\n\
         print(('x=%s y=%s fd3=%s'):format(L4.Env.x ~= nil, L4.Env.y ~= nil, L4.Env.fd3 ~= nil))\n",
    );
    let granted = sb.file("granted", "");
    let shell = r#"exec 3<"$1" 4<&-
if [ "$LISTEN_PID" = self ]; then LISTEN_PID=$$; fi
export LISTEN_PID
exec "$0" --exit "$2""#;
    // (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, what the script must see)
    let cases = [
        // The control: the right pid adopts fd 3 under its name.
        ("self", "1", "x", "x=true y=false fd3=false"),
        // Meant for another process: nothing, although fd 3 is open.
        ("1", "1", "x", "x=false y=false fd3=false"),
        ("", "1", "x", "x=false y=false fd3=false"),
        // The right pid, but a count that is not a number, or above the
        // MAX_FDS limit: nothing.
        ("self", "garbage", "x", "x=false y=false fd3=false"),
        ("self", "-1", "x", "x=false y=false fd3=false"),
        ("self", "99999999", "x", "x=false y=false fd3=false"),
        // Empty names fall back to fd<N>.
        ("self", "1", ":::", "x=false y=false fd3=true"),
        ("self", "1", "", "x=false y=false fd3=true"),
        // Two announced, fd 4 not open: only fd 3 is adopted.
        ("self", "2", "x:y", "x=true y=false fd3=false"),
    ];
    for (pid, fds, names, seen) in cases {
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.args(["-c", shell, path_str(&ned_bin())])
            .args([path_str(&granted), path_str(&script)])
            .current_dir(&sb.root)
            .env_clear()
            .env("NO_COLOR", "1")
            .env("LISTEN_PID", pid)
            .env("LISTEN_FDS", fds)
            .env("LISTEN_FDNAMES", names)
            .stdin(std::process::Stdio::null());
        let out = crate::util::run(&mut cmd);
        let case = format!("LISTEN_PID={pid} LISTEN_FDS={fds} LISTEN_FDNAMES={names}");
        out.ok().no_lua_error();
        assert_eq!(out.stdout.trim(), seen, "{case}:\n{out}");
    }
}
