-- §2/§4: what crosses resume, what is refused, == on shared objects.
local lunatik, rcu, data, fifo, completion = require("lunatik"), require("rcu"), require("data"), require("fifo"), require("completion")
local echo = lunatik.runtime("scripts/echo")

local n, b, i, f, s = echo:resume(nil, true, 42, 1.5, "bytes\0here")
assert(n == nil and b == true and i == 42 and math.type(i) == "integer" and f == 1.5 and s == "bytes\0here")

for _, o in ipairs({ rcu.table(), data.new(8), fifo.new(8), completion.new(), echo }) do
  local back = echo:resume(o)
  assert(back == o, "handle identity lost for " .. tostring(o))
  assert(rawequal(back, o) == false) -- a new handle, the same object
end
assert(rcu.table() ~= rcu.table())

local ok, err = pcall(echo.resume, echo, 1, {})
assert(not ok and err:find("bad argument #2 to 'resume' (table cannot be shared)", 1, true), err)
ok, err = pcall(echo.resume, echo, print)
assert(not ok and err:find("bad argument #1 to 'resume' (function cannot be shared)", 1, true), err)
ok, err = pcall(echo.resume, echo, coroutine.create(print))
assert(not ok and err:find("thread cannot be shared", 1, true), err)
-- the runtime is still usable after refusals
assert(echo:resume("still") == "still")

-- results that cannot cross are refused too
local ev = lunatik.runtime("scripts/eval")
ok, err = pcall(ev.resume, ev, "return {}")
assert(not ok and err:find("bad result #1 from 'resume' (table cannot be shared)", 1, true), err)

-- a data buffer written in one runtime is seen in another
local d = data.new(4)
local ev2 = lunatik.runtime("scripts/eval")
ev2:resume("local d = ...; d:setuint16(0, 0xBEEF)", d)
assert(d:getuint16(0) == 0xBEEF)
echo:stop(); ev:stop(); ev2:stop()
