-- Shapes of upstream configs that stopped on ned (issue 8), in our own
-- words: a log with colour "" (upstream's log server takes it as the
-- default), a scheduler created with a trailing nil (uvmm's vmm.lua), and
-- L4.sleep / L4.msleep while a task runs. The Rust runner checks what went
-- to ned's console: the sleep messages, and the task's line while asleep.
local check = require("check")
local L4 = require("L4")
local ld, E, P = L4.default_loader, L4.Env, L4.Proto

-- Logs: an empty or unknown colour is the default colour, never an error.
for _, color in ipairs({ "", "nonsense", "?", 99, -1, 2.5 }) do
  local t = ld:start({ log = { "quiet", color } }, "/bin/true")
  check.eq(t:wait(), 0, "task logging with colour " .. tostring(color))
end
check.truthy(E.factory:create(P.Log, "vm", ""), "create(Log, tag, '')")
check.truthy(E.factory:create(P.Log, "vm", "unknown"), "create(Log, tag, 'unknown')")

-- create: arguments end at the first nil, as upstream reads them.
local sched = E.factory:create(P.Scheduler, 10, 0, nil)
check.eq(tostring(sched):find("Scheduler", 1, true) ~= nil, true, "a scheduler")
check.eq(ld:start({ scheduler = sched, log = { "sched" } }, "/bin/true"):wait(), 0,
  "a task on that scheduler")
-- Whatever follows the nil is not read: not even a bad CPU word.
check.truthy(E.factory:create(P.Scheduler, 10, 0, nil, "not a cpu word"), "args after nil")
check.truthy(E.mem_alloc:create(P.Dataspace, 4096, nil, "ignored"), "dataspace, nil flags")
check.raises("number expected, got nil", function() return E.factory:create(nil, 1) end)

-- Sleeping: silent and immediate for these, as upstream.
for _, v in ipairs({ "nil", "string", "zero", "negative", "nan", "table" }) do
  local arg = ({ string = "5", zero = 0, negative = -2, nan = 0 / 0, table = {} })[v]
  L4.sleep(arg)
  L4.msleep(arg)
end
L4.sleep()
L4.msleep()

-- While the script sleeps, the task's output flows and its exit is
-- recorded, but its exit handler waits for the script to finish.
local ran = false
local t = ld:startv({ log = { "sleeper" } }, "/bin/sh", "-c", "echo awake while ned sleeps")
t:exit_handler(function() ran = true print("handler ran after the script") end)
L4.sleep(0.05)
for _ = 1, 600 do
  if t:state() == "zombie" then break end
  L4.msleep(100)
end
check.eq(t:state(), "zombie", "the exit was recorded while asleep")
check.eq(ran, false, "no exit handler ran while asleep")
print("script done sleeping")
check.done()
