-- §3: stop closes the state (finalizers run), is idempotent, resume refuses
-- afterwards; a runtime whose last handle is collected is closed.
local lunatik, rcu = require("lunatik"), require("rcu")
local before = test.stats()
local rt = lunatik.runtime("scripts/eval")
assert(test.stats().states == before.states + 1)
local seen = rcu.table()
rt:resume([[
  local seen = ...
  _G.keep = setmetatable({}, { __gc = function() seen.finalized = true end })
]], seen)
assert(seen.finalized == nil)
rt:stop()
assert(seen.finalized == true, "finalizer did not run on stop")
assert(test.stats().states == before.states)
rt:stop() -- no-op
local ok, err = pcall(rt.resume, rt)
assert(not ok and err:find("runtime stopped"), err)

-- collected without stop
do
  local r2 = lunatik.runtime("scripts/eval")
  r2:resume("local seen = ...; _G.keep = setmetatable({}, { __gc = function() seen.gc2 = true end })", seen)
end
collectgarbage(); collectgarbage()
assert(seen.gc2 == true, "finalizer did not run when the last handle was collected")
assert(test.stats().states == before.states)

-- A finalizer that re-arms itself and calls lunatik while the state
-- closes: the first round runs with every binding working, later rounds
-- find bindings that return nothing; nothing reaches a state being freed.
local r3 = lunatik.runtime("scripts/eval")
r3:resume([[
  local seen = ...
  local rcu = require("rcu")
  local function arm()
    return setmetatable({}, { __gc = function()
      seen.rearmed = (seen.rearmed or 0) + 1
      _G.again = arm()
      rcu.table()
    end })
  end
  _G.a = arm()
]], seen)
r3:stop()
assert(seen.rearmed >= 1, "the re-arming finalizer never ran")
assert(test.stats().states == before.states)

-- os.exit in a runtime cannot end the host's process.
local r4 = lunatik.runtime("scripts/eval")
ok, err = pcall(r4.resume, r4, "os.exit(3)")
assert(not ok and err:find("'os.exit' is not allowed in a runtime", 1, true), err)
r4:stop()  -- and this process is still here to say so
