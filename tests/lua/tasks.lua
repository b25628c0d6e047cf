-- Spec §12: every cell of the task table, with upstream's return values.
-- Tasks are ned-probe (`--exit N`, `--sleep S`); the rom is the sandbox's.
local check = require("check")
local eq, raises = check.eq, check.raises
local L4 = require("L4")
local ld = L4.default_loader

local function start(args, tag)
  return ld:start({ log = { tag or "t" } }, "rom/probe " .. args)
end

-- Runs short tasks to completion (wait() records every exit) until `t` is a
-- zombie; bounded, so a bug fails instead of hanging.
local function until_zombie(t)
  for _ = 1, 300 do
    if t:state() == "zombie" then return end
    start("--sleep 0.05", "pacer"):wait()
  end
  error("task never became a zombie")
end

local calls = {}
local function recorder(name)
  return function(code) calls[#calls + 1] = name .. "=" .. tostring(code) end
end

-- Running -------------------------------------------------------------------
local r = start("--sleep 60", "running")
eq(r:state(), "running", "running: state()")
eq(r:exit_code(), nil, "running: exit_code()")
eq(r:signal(), nil, "running: signal()")
eq(type(r:pid()), "number", "running: pid()")
eq(r:exit_handler(recorder("r")), true, "running: exit_handler stores and returns true")
raises("exit_handler callback already registered", r.exit_handler, r, function() end)
eq(#calls, 0, "handler not called yet")
eq(r:kill(), "killed", "running: kill() returns 'killed'")
eq(calls[1], "r=nil", "kill() called the handler with nil")
-- Reaped (after kill) -------------------------------------------------------
eq(r:state(), nil, "after kill: state()")
eq(r:exit_code(), nil, "after kill: exit_code()")
eq(r:wait(), nil, "after kill: wait()")
eq(r:kill(), nil, "after kill: kill()")
calls = {}
eq(r:exit_handler(recorder("rk")), false, "after kill: exit_handler returns false")
eq(calls[1], "rk=nil", "after kill: exit_handler calls fn(nil) now")

-- wait() on a running task blocks and returns the code ----------------------
local w = start("--sleep 0.2 --exit 7", "waited")
eq(w:state(), "running", "before wait")
eq(w:wait(), 7, "wait() returns the exit code")
eq(w:state(), nil, "after wait: state()")
eq(w:exit_code(), nil, "after wait: exit_code()")
eq(w:wait(), nil, "after wait: wait()")
eq(w:kill(), nil, "after wait: kill()")
calls = {}
eq(w:exit_handler(recorder("w")), false, "after wait: exit_handler")
eq(calls[1], "w=nil", "after wait: fn(nil)")

-- Zombie ----------------------------------------------------------------------
local z1 = start("--exit 3", "z1")
local z2 = start("--exit 4", "z2")
local z3 = start("--exit 5", "z3")
local z4 = start("--exit 0", "z4")
-- z5 has a handler: while the script waits, no handler is dispatched.
local z5 = start("--exit 6", "z5")
local z5_ran = false
eq(z5:exit_handler(function(c) z5_ran = c; print("late z5 " .. tostring(c)) end), true, "z5 handler stored")
for _, t in ipairs({ z1, z2, z3, z4, z5 }) do until_zombie(t) end
eq(z5_ran, false, "no exit handler runs while the script is in wait()")
eq(z1:state(), "zombie", "zombie: state()")
eq(z1:exit_code(), 3, "zombie: exit_code()")
eq(z1:signal(), nil, "zombie: signal() of a normal exit")
eq(z1:exit_code(), 3, "zombie: exit_code() does not reap")
eq(z1:wait(), 3, "zombie: wait() returns the code")
eq(z1:state(), nil, "zombie then wait: reaped")
eq(z2:kill(), 4, "zombie: kill() returns the exit code")
eq(z2:state(), nil, "zombie then kill: reaped")
calls = {}
eq(z3:exit_handler(recorder("z3")), false, "zombie: exit_handler returns false")
eq(calls[1], "z3=5", "zombie: exit_handler calls fn(code) now")
-- As upstream: a handler that fired at once is not stored, so a zombie
-- accepts another one, which fires too.
eq(z3:exit_handler(recorder("z3b")), false, "zombie: second exit_handler fires too")
eq(calls[2], "z3b=5", "zombie: second handler gets the code")
eq(z4:exit_code(), 0, "zombie: exit code 0 is 0, not nil")
eq(z4:wait(), 0, "zombie: wait() returns 0")

-- Killed by a signal: exit_code nil, signal() tells which ---------------------
local s = start("--sleep 60", "signalled")
eq(s:kill(15), true, "kill(15) sends SIGTERM")
until_zombie(s)
eq(s:state(), "zombie", "signalled: zombie")
eq(s:exit_code(), nil, "signalled: exit_code() is nil")
eq(s:signal(), 15, "signalled: signal() is 15")
eq(s:wait(), nil, "signalled: wait() returns nil")
local k = start("--sleep 60", "sigkilled")
k:kill(9)
until_zombie(k)
eq(k:signal(), 9, "SIGKILL: signal() is 9")
calls = {}
eq(k:exit_handler(recorder("k")), false, "signalled zombie: exit_handler")
eq(calls[1], "k=nil", "signalled zombie: handler gets nil")

-- A task whose last reference is dropped keeps running; its handler fires
-- from the loop after the script (checked by the Rust side: `late ...`).
do
  local dropped = start("--sleep 0.5 --exit 9", "dropped")
  dropped:exit_handler(function(c) print("late dropped " .. tostring(c)) end)
end
collectgarbage()
collectgarbage()
z5 = nil
collectgarbage()

-- Errors in handlers are printed and survived (Rust side checks the order).
local bad = start("--exit 1", "bad")
bad:exit_handler(function() error("boom in handler") end)
local after = start("--sleep 0.3 --exit 2", "after")
after:exit_handler(function(c) print("late after " .. tostring(c)) end)

check.done()
