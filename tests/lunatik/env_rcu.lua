-- §5/§9: an rcu table published in lunatik._ENV and read from another runtime.
local lunatik, rcu = require("lunatik"), require("rcu")
assert(tostring(lunatik._ENV):find("^rcu"))
local writer = lunatik.runtime("scripts/eval")
local reader = lunatik.runtime("scripts/eval", false)

writer:resume([[
  local lunatik, rcu = require("lunatik"), require("rcu")
  local t = rcu.table(16)
  t.answer = 42
  t[7] = "seven"
  lunatik._ENV.shared = t
]])
assert(reader:resume("return require('lunatik')._ENV.shared.answer") == 42)
assert(reader:resume("return require('lunatik')._ENV.shared['7']") == "seven")
-- the same object everywhere, and _ENV is one table
assert(lunatik._ENV.shared == reader:resume("return require('lunatik')._ENV.shared"))
assert(reader:resume("return require('lunatik')._ENV") == lunatik._ENV)
lunatik._ENV.shared = nil
assert(reader:resume("return require('lunatik')._ENV.shared") == nil)
writer:stop(); reader:stop()
