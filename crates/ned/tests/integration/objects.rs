//! ned's object service (docs/protocol.md), driven from tasks: `ned-objtool`
//! (crates/ned-client) runs protocol commands against the caps a script
//! granted it and prints one `ok ...`/`err <status> ...` line per command;
//! `ned-fb-demo` is a driver that serves a channel. Every run asserts ned's
//! exit status, and that the tasks it started are gone.

use std::path::Path;

use crate::util::{Out, Sandbox, path_str, pid_alive, sibling_bin};

/// Puts the client-library binaries into the sandbox's rom.
fn with_tools(sb: &Sandbox) {
    for bin in ["ned-objtool", "ned-fb-demo"] {
        let from = sibling_bin(bin);
        let to = sb.rom().join(bin);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).expect("copy tool");
        }
    }
}

/// Every `pid N` line the script printed names a process that is gone.
fn no_leftovers(out: &Out) {
    for pid in out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("pid "))
        .map(|p| p.trim().parse::<i64>().expect("pid"))
    {
        assert!(!pid_alive(pid), "task {pid} left behind:\n{out}");
    }
}

fn assert_lines(out: &Out, tag: &str, want: &[&str]) {
    let got = out.log(tag);
    assert_eq!(got.len(), want.len(), "line count of {tag}:\n{out}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "{tag}: got {g:?}, want {w:?}:\n{out}");
    }
}

#[test]
fn a_task_queries_registers_and_creates_through_its_caps() {
    let sb = Sandbox::new();
    with_tools(&sb);
    let out = sb.run_script(
        "--exit",
        "t.lua",
        r#"
local L4 = require("L4")
local L = L4.default_loader
local ns = L4.Env.factory:create(L4.Proto.Namespace)
ns:register("ds", L4.Env.mem_alloc:create(L4.Proto.Dataspace, 8192):m("rw"))
ns:register("fab", L4.Env.factory)
local log = L4.Env.factory:create(L4.Proto.Log, "tasklog", "g")
local t = L:start({caps = {ns = ns:m("rw"), fab = L4.Env.factory, sched = L4.Env.scheduler,
    log = log, con = L4.Env.log, rm = L4.Env.rm, parent = L4.Env.parent}, log = {"tool"}},
  "rom/ned-objtool write:con:straight-to-the-console type:ns query:ns:ds query:ns:missing:4:0 create:fab:d:0x4000:4096 " ..
  "create:fab:sub:-15:10000 create:sub:x:0x4000:20000 create:sub:y:0x4000:6000 type:sub " ..
  "create:fab:z:-16 create:fab:n:0x4001 type:n type:sched write:log:hello type:rm query:rm:x " ..
  "type:parent register:ns:new:d names:ns query:ns:ds:7:0 query:ns:fab create:fab:q:0x4000:1 " ..
  "register:ns:fab2:fab")
print("pid " .. t:pid())
print("exit", t:wait())
print("new " .. tostring(ns:query("new")()):match("^L4::Cap<%a+>"))
-- The task registered its own connection: that very object, with its rights.
local fab2 = ns:query("fab2", "rws")()
print("fab2 is the factory", fab2 == L4.Env.factory)
"#,
    );
    out.ok().no_lua_error();
    assert_lines(
        &out,
        "tool",
        &[
            "ok ",
            "ok Namespace rights=0x5 []",
            // Asked for nothing: `r`, though the entry holds `rw`.
            "ok Dataspace rights=0x4",
            "err -2 query: no entry 'missing'",
            "ok Dataspace rights=0x2f size=4096",
            "ok Factory rights=0x2f",
            "err -12 create: dataspace of 20000 bytes exceeds the factory's quota (10000 bytes left)",
            "ok Dataspace rights=0x2f size=6000",
            "ok Factory rights=0x2f [Int(4000)]",
            "err -38 create: protocol -16 is not supported on Linux",
            "ok Namespace rights=0x2f size=0",
            "ok Namespace rights=0x2f []",
            "ok Scheduler rights=0x7 [Int(255), Int(0)]",
            "ok ",
            "ok Rm rights=0x7 []",
            "err -38 a Rm does not serve op 2",
            "ok Parent rights=0x7 []",
            "ok ",
            "ok ds,fab,new",
            // Asked for rws of an `rw` entry through a namespace cap without `s`.
            "ok Dataspace rights=0x5",
            "ok Factory rights=0x4",
            // The queried factory has `r` only.
            "err -1 create: factory cap lacks the 's' right",
            "ok ",
        ],
    );
    assert_eq!(out.log("tasklog"), ["hello"], "{out}");
    // `L4.Env.log` is ned's own stdout, untagged.
    assert!(
        out.stdout.lines().any(|l| l == "straight-to-the-console"),
        "{out}"
    );
    out.stdout_has("exit\t0")
        .stdout_has("new L4::Cap<Dataspace>")
        .stdout_has("fab2 is the factory\ttrue");
    no_leftovers(&out);
}

#[test]
fn rights_of_the_grant_bound_what_a_task_may_do() {
    let sb = Sandbox::new();
    with_tools(&sb);
    let out = sb.run_script(
        "--exit",
        "t.lua",
        r#"
local L4 = require("L4")
local ns = L4.Env.factory:create(L4.Proto.Namespace)
ns:register("x", L4.Env.factory)
local t = L4.default_loader:start({caps = {ns = ns, fab = L4.Env.factory:m("rw"),
    nsd = ns:m("rwd")}, log = {"tool"}},
  "rom/ned-objtool register:ns:y:fab unlink:ns:x create:fab:d:0x4000:16 unlink:nsd:x names:ns")
print("pid " .. t:pid())
print("exit", t:wait())
"#,
    );
    out.ok().no_lua_error();
    assert_lines(
        &out,
        "tool",
        &[
            "err -1 register: namespace cap lacks the 'w' right",
            "err -1 unlink: namespace cap lacks the 'd' right",
            "err -1 create: factory cap lacks the 's' right",
            "ok ",
            "ok ",
        ],
    );
    no_leftovers(&out);
}

#[test]
fn malformed_messages_get_error_replies_and_the_connection_goes_on() {
    let sb = Sandbox::new();
    with_tools(&sb);
    // Header: version 1, op 1 (type), id 7, status 0, nfds, reserved, len.
    let hdr = |nfds: &str, len: &str, payload: &str| {
        format!("raw:ns:0100010007000000000000000{nfds}000000{len}000000{payload}")
    };
    let cmds = [
        "raw:ns:0100".to_owned(),
        "raw:ns:090001000700000000000000000000000000000000".to_owned(),
        hdr("0", "01", "09"),               // unknown tag
        hdr("0", "05", "02ffffffff"),       // string longer than the message
        hdr("0", "08", "0300000100040000"), // cut-off cap value
        hdr("1", "00", ""),                 // says 1 fd, carries none
        hdr("0", "02", "00"),               // length says 2, payload is 1
        "big:ns:70000".to_owned(),
        "fds:ns:20".to_owned(),
        "fds:ns:1".to_owned(),
        "type:ns".to_owned(),
    ];
    let out = sb.run_script(
        "--exit",
        "t.lua",
        &format!(
            r#"
local L4 = require("L4")
local ns = L4.Env.factory:create(L4.Proto.Namespace)
local t = L4.default_loader:start({{caps = {{ns = ns}}, log = {{"tool"}}}}, "rom/ned-objtool {}")
print("pid " .. t:pid())
print("exit", t:wait())
"#,
            cmds.join(" ")
        ),
    );
    out.ok().no_lua_error();
    assert_lines(
        &out,
        "tool",
        &[
            "err -71 message of 2 bytes is shorter than the 20-byte header",
            "err -93 protocol version 9 is not supported",
            "err -71 value 0: unknown tag 9",
            "err -71 value 0 is cut off",
            "err -71 value 0 is cut off",
            "err -71 fd 0 is named by more than one cap value, or by none",
            "err -71 header says 2 payload bytes, the message has 1",
            "err -7 message longer than 65536 bytes",
            "err -71 more than 16 fds in one message",
            "err -71 header says 0 fds, the message carries 1",
            "ok Namespace rights=0x4 []",
        ],
    );
    no_leftovers(&out);
}

#[test]
fn a_query_waits_for_a_name_registered_later_and_gives_up_in_time() {
    let sb = Sandbox::new();
    with_tools(&sb);
    let out = sb.run_script(
        "--exit",
        "t.lua",
        r#"
local L4 = require("L4")
local L = L4.default_loader
local ns = L4.Env.factory:create(L4.Proto.Namespace)
local d = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)
-- A task waits (up to 20 s) for a name another task registers later.
local waiter = L:start({caps = {ns = ns}, log = {"tool"}},
  "rom/ned-objtool query:ns:late:4:20000 query:ns:never:4:300")
local reg = L:start({caps = {ns = ns:m("rw"), d = d}, log = {"reg"}},
  "rom/ned-objtool sleep:300 register:ns:late:d sleep:300 register:ns:mine:d")
-- The script waits for a name a task registers (it holds `w`).
local mine = ns:query("mine")()
print("script got " .. tostring(mine):match("^L4::Cap<%a+>"))
-- Nobody could register this one: nil at once.
print("absent", ns:query("nobody")())
print("pid " .. waiter:pid())
print("pid " .. reg:pid())
print("exits", waiter:wait(), reg:wait())
"#,
    );
    out.ok().no_lua_error();
    assert_lines(
        &out,
        "tool",
        &["ok Dataspace rights=0x4", "err -2 query: no entry 'never'"],
    );
    out.stdout_has("script got L4::Cap<Dataspace>")
        .stdout_has("absent\tnil")
        .stdout_has("exits\t0\t0");
    no_leftovers(&out);
}

#[test]
fn flooding_and_hoarding_clients_cannot_stall_ned() {
    let sb = Sandbox::new();
    with_tools(&sb);
    let out = sb.run_script(
        "--exit",
        "t.lua",
        r#"
local L4 = require("L4")
local L = L4.default_loader
local ns = L4.Env.factory:create(L4.Proto.Namespace)
ns:register("sub", L4.Env.factory:create(L4.Proto.Namespace))
local flood = L:start({caps = {ns = ns}, log = {"flood"}}, "rom/ned-objtool flood:ns:100000")
local hoard = L:start({caps = {ns = ns}, log = {"hoard"}}, "rom/ned-objtool hold:ns:sub:5000")
print("flood", flood:wait())
print("hoard", hoard:wait())
-- Connections came back: a new client is served.
local t = L:start({caps = {ns = ns}, log = {"tool"}}, "rom/ned-objtool hold:ns:sub:1000 type:ns")
print("tool", t:wait())
for _, x in ipairs({flood, hoard, t}) do print("pid " .. x.pid_) end
"#,
    );
    out.ok().no_lua_error();
    assert_lines(&out, "flood", &["ok dropped"]);
    let hoard = out.log("hoard");
    assert_eq!(hoard.len(), 1, "{out}");
    assert!(
        hoard[0].starts_with("err -24 after ") && hoard[0].contains("4096 connections"),
        "{out}"
    );
    assert_lines(&out, "tool", &["ok 1000", "ok Namespace"]);
    out.stderr_has("left 64 replies unread")
        .stderr_has("already serves 4096 connections");
    no_leftovers(&out);
}

#[test]
fn create_on_a_channel_is_forwarded_to_its_driver() {
    let sb = Sandbox::new();
    with_tools(&sb);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/drivers/fb.lua");
    let src = std::fs::read_to_string(&example).expect("examples/drivers/fb.lua");
    let script = sb.file("fb.lua", &src);
    let out = sb.ned(&["--exit", path_str(&script)]);
    out.ok().no_lua_error();
    for line in src.lines().filter_map(|l| l.strip_prefix("-- expect: ")) {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "missing {line:?}:\n{out}"
        );
    }
}

#[test]
fn a_forwarded_create_fails_clearly_when_the_driver_is_gone_or_silent() {
    let sb = Sandbox::new();
    with_tools(&sb);
    let mut cmd = sb.command(&[
        "--exit",
        path_str(&sb.file(
            "t.lua",
            r#"
local L4 = require("L4")
local L = L4.default_loader
local function try(ch, ...)
  local ok, e = pcall(ch.create, ch, ...)
  print(ok and "made" or (e.msg .. " (" .. e.code .. ")"))
end
-- Nobody serves this channel: the bound ends the wait.
try(L:new_channel(), L4.Proto.Goos, "g=1x1")
-- The driver dies before it answers.
local fb = L:new_channel()
local drv = L:start({caps = {svr = fb:svr()}, log = {"fb"}}, "rom/ned-fb-demo")
try(fb, L4.Proto.Goos, "g=2x2")
print("pid " .. drv:pid())
drv:kill()
try(fb, L4.Proto.Goos, "g=3x3")
-- A protocol the driver does not serve, and arguments that cannot travel.
local fb2 = L:new_channel()
local d2 = L:start({caps = {svr = fb2:svr()}, log = {"fb2"}}, "rom/ned-fb-demo")
print("pid " .. d2:pid())
try(fb2, L4.Proto.Dataspace, 1)
try(fb2, L4.Proto.Goos, 1.5)
d2:kill()
"#,
        )),
    ]);
    cmd.env("NED_OBJECT_WAIT_MS", "400");
    let out = crate::util::run(&mut cmd);
    out.ok().no_lua_error();
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.contains(" | ") && !l.starts_with("pid "))
        .collect();
    assert_eq!(
        lines,
        [
            "create: the server of this channel did not answer within 400 ms (-110)",
            "made",
            "create: the server of this channel went away before it answered (-32)",
            "fb: protocol 16384 not served (-38)",
            "bad argument #2 to 'create' (a number cannot be sent to a server) (-22)",
        ],
        "{out}"
    );
    no_leftovers(&out);
}
