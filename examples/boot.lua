-- boot.lua: a small boot with ned.supervise (docs/supervise.md) — a
-- database-like server that signals readiness, two workers that start only
-- once it is ready, a periodic job on a timer, restart on crash, and a
-- clean shutdown on Ctrl-C — or by itself after 10 s (the seconds given as
-- the script's argument; 0: only on Ctrl-C), so that `--wait-and-exit`
-- ends too.
--
--   cargo run --release --bin ned -- --timeline boot.svg examples/boot.lua
--
-- run by: crates/ned/tests/integration/supervise.rs (it runs until Ctrl-C)
local L4 = require("L4")
local sv = require("ned.supervise").new()

sv:add("db", {
  cmd = "rom/boot/db.py",
  env = { notify = true },          -- gets NOTIFY_SOCKET; ready at READY=1
  restart = "on-failure",
  on_ready = function(task) print("boot: db is ready: " .. task:status()) end,
})
sv:add("worker-a", { cmd = "rom/boot/worker.sh", after = { "db" } })
sv:add("worker-b", {
  cmd = "rom/boot/worker.sh 0.5",   -- crashes after half a second
  after = { "db" },
  restart = "on-failure",
  backoff = { initial = 200, max = 5000, jitter = 0.2 },
  limit = 3,
  on_exit = function(code, sig, name)
    if not L4.shutting_down() then
      print(("boot: %s exited (code %s), restart %d"):format(name, tostring(code), sv:starts(name)))
    end
  end,
})
sv:start()

-- The periodic job: every second, a short task reports the workers' states.
L4.every(1000, function()
  L4.default_loader:startv({ log = { "report" } }, "/bin/sh", "-c",
    'echo "worker-a $0, worker-b $1"', sv:state("worker-a"), sv:state("worker-b"))
end)

-- Ctrl-C, or SIGTERM (a container's `kill`): stop in reverse dependency
-- order — the workers first, then db — and exit 0. Without these two
-- lines ned would end every task's tree at once.
local function shutdown(name)
  print("boot: " .. name .. ": stopping in order")
  sv:stop()
  os.exit(0)
end
L4.on_signal("INT", shutdown)
L4.on_signal("TERM", shutdown)
local demo = tonumber(arg and arg[1]) or 10
if demo > 0 then
  L4.timer(demo * 1000, function() shutdown("demo over") end)
end
