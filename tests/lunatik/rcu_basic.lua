-- §6: rcu tables.
local rcu = require("rcu")
local t = rcu.table()
assert(t.missing == nil)
t.a, t.ab, t.abc = 1, 2, 3
assert(t.a == 1 and t.ab == 2 and t.abc == 3) -- exact matching, no prefixes
t.ab = nil
assert(t.a == 1 and t.ab == nil and t.abc == 3)
t[1] = "one"; t[2.5] = "x"
assert(t["1"] == "one" and t[1] == "one" and t["2.5"] == "x")
t.b, t.f, t.s = false, 0.25, "str"
assert(t.b == false and t.f == 0.25 and t.s == "str")
local inner = rcu.table(4)
t.inner = inner
assert(t.inner == inner)

-- map visits every entry; the callback may delete the current key
local seen = {}
rcu.map(t, function(k, v) seen[k] = v; t[k] = nil end)
assert(seen.a == 1 and seen.abc == 3 and seen["1"] == "one" and seen.b == false)
local left = 0
rcu.map(t, function() left = left + 1 end)
assert(left == 0)

-- sizes
assert(rcu.table(1) and rcu.table(1000))
for _, bad in ipairs({ 0, -1 }) do
  local ok, err = pcall(rcu.table, bad)
  assert(not ok and err:find("bad argument #1 to 'table'"), tostring(err))
end
-- bad keys and values
local ok, err = pcall(function() return t[true] end)
assert(not ok and err:find("invalid rcu key"), err)
ok, err = pcall(function() t[{}] = 1 end)
assert(not ok and err:find("invalid rcu key"), err)
ok, err = pcall(function() t.x = {} end)
assert(not ok and err:find("table cannot be shared"), err)
ok, err = pcall(function() t.x = print end)
assert(not ok and err:find("function cannot be shared"), err)
ok, err = pcall(rcu.map, {}, print)
assert(not ok and err:find("bad argument #1 to 'map'"), err)
-- callback errors propagate
ok, err = pcall(rcu.map, rcu.table(), print) -- empty: fine
assert(ok)
t.z = 1
ok, err = pcall(rcu.map, t, function() error("in map") end)
assert(not ok and err:find("in map"), err)
