-- sandbox.lua: least privilege in one word. A task started with
-- `sandbox = "strict"` gets new user, mount, PID, network, IPC and UTS
-- namespaces, no_new_privs, a Landlock ruleset that allows only the
-- directory and file caps it was granted, and a seccomp allow-list: its
-- caps are its whole authority.
--
--   ned --wait-and-exit --cap busybox=/bin/busybox:r examples/sandbox.lua
--   ned --wait-and-exit examples/sandbox.lua   (the host's /bin/busybox)
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
-- Without the cap, the host's /bin/busybox runs instead, under strict plus
-- `system = true`, which makes /bin (and the libraries a dynamically linked
-- busybox would need) readable and executable, and nothing else.
local prog, sandbox = "busybox", "strict"
if not L4.Env.busybox then
  local f = io.open("/bin/busybox")
  if not f then
    error("this example runs busybox: grant a static one with "
      .. "ned --wait-and-exit --cap busybox=/bin/busybox:r examples/sandbox.lua "
      .. "(Debian: apt-get install busybox-static)", 0)
  end
  f:close()
  prog, sandbox = "/bin/busybox", { "strict", system = true }
end

local function run(tag, ...)
  local t = ld:startv({
    caps = { busybox = L4.Env.busybox },
    sandbox = sandbox,
    log = { tag },
  }, prog, ...)
  print(tag .. " exited with " .. tostring(t:wait()))
end

run("rom", "head", "-n", "1", arg[0])        -- the rom cap (this directory) is readable
run("passwd", "cat", "/etc/passwd")          -- nothing else is
run("proc", "ls", "/proc")                   -- no other process is visible
run("pid", "sh", "-c", "echo $$")            -- the task is PID 1 of its own namespace
run("net", "nc", "127.0.0.1", "22")          -- no network but granted sockets
