-- §8/§9: a thread whose body loops on shouldstop() and is stopped.
local lunatik, thread, rcu, completion = require("lunatik"), require("thread"), require("rcu"), require("completion")
assert(thread.shouldstop() == false and thread.current() == nil)
local rt = lunatik.runtime("scripts/worker")
local counter = rcu.table()
local t = thread.run(rt, "worker", counter)
assert(tostring(t):find("^thread"))
local deadline = os.time() + 10
while (counter.n or 0) < 3 do assert(os.time() < deadline, "worker did not start"); thread.sleep(1) end
local info = t:task()
assert(info.name == "worker" and info.running == true and info.tid > 0)
assert(t:stop() == true)
assert(counter.stopped == true)
assert(t:task().running == false)
assert(t:stop() == true) -- idempotent

-- a failing body reports its error from stop()
local ev = lunatik.runtime("scripts/eval")
local t2 = thread.run(ev, "failing", "error('thread boom')")
local ok, err = t2:stop()
assert(ok == false and err:find("thread boom"), err)

-- a completion signalled from a thread
local c = completion.new()
local ev2 = lunatik.runtime("scripts/eval")
local t3 = thread.run(ev2, "signal", "local c = ...; c:complete()", c)
assert(c:wait(5000) == true)
t3:stop()
local r1, r2 = c:wait(10)
assert(r1 == nil and r2 == "timeout")
rt:stop(); ev:stop(); ev2:stop()
