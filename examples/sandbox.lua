-- sandbox.lua: least privilege in one word. A task started with
-- `sandbox = "strict"` gets new user, mount, PID, network, IPC and UTS
-- namespaces, no_new_privs, a Landlock ruleset that allows only the
-- directory and file caps it was granted, and a seccomp allow-list: its
-- caps are its whole authority.
--
--   ned --wait-and-exit --cap busybox=/bin/busybox:r examples/sandbox.lua
--
-- "strict" grants no system libraries, so the program must be static:
-- Debian's busybox-static is. (`sandbox = { "strict", system = true }`
-- adds read-only /usr, /lib, /bin, ... for dynamically linked programs.)
--
-- run by: sandbox::the_example_runs_busybox_under_strict
-- expect: rom | -- sandbox.lua: least privilege in one word. A task started with
-- expect: rom exited with 0
-- expect: passwd | cat: can't open '/etc/passwd': Permission denied
-- expect: passwd exited with 1
-- expect: proc   | ls: can't open '/proc': Permission denied
-- expect: pid    | 1
-- expect: net    | nc: can't connect to remote host (127.0.0.1): Permission denied
local L4 = require("L4")
local ld = L4.default_loader
if not L4.Env.busybox then
  error("this example needs a static busybox granted as a cap: "
    .. "ned --wait-and-exit --cap busybox=/bin/busybox:r examples/sandbox.lua "
    .. "(Debian: apt-get install busybox-static)", 0)
end

local function run(tag, ...)
  local t = ld:startv({
    caps = { busybox = L4.Env.busybox },
    sandbox = "strict",
    log = { tag },
  }, "busybox", ...)
  print(tag .. " exited with " .. tostring(t:wait()))
end

run("rom", "head", "-n", "1", arg[0])        -- the rom cap (this directory) is readable
run("passwd", "cat", "/etc/passwd")          -- nothing else is
run("proc", "ls", "/proc")                   -- no other process is visible
run("pid", "sh", "-c", "echo $$")            -- the task is PID 1 of its own namespace
run("net", "nc", "127.0.0.1", "22")          -- no network but granted sockets
