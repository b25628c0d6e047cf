-- §6: rcu.table sizes have no upper bound (upstream's tests ask for 1 << 22
-- buckets); a size whose buckets cannot be allocated is a memory error.
local rcu = require("rcu")
local big = rcu.table(1 << 22)
for i = 1, 1000 do big["k" .. i] = i end
assert(big.k1 == 1 and big.k1000 == 1000)
big = nil
collectgarbage()
for _, huge in ipairs({ 1 << 58, math.maxinteger }) do
  local ok, err = pcall(rcu.table, huge)
  assert(not ok and err:find("not enough memory", 1, true), tostring(err))
end
local ok, err = pcall(rcu.table, -4)
assert(not ok and err:find("bad argument #1 to 'table' (size must be positive)", 1, true), err)
