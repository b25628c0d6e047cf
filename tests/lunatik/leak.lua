-- §1/§9: a script error after it registered objects leaks nothing.
local lunatik = require("lunatik")
collectgarbage(); collectgarbage()
local before = test.stats()
local ok, err = pcall(lunatik.runtime, "scripts/leaky")
assert(not ok and err == "scripts/leaky.lua:12: failed after registering objects", err)
collectgarbage(); collectgarbage()
local after = test.stats()
for k, v in pairs(before) do
  assert(after[k] == v, k .. ": " .. v .. " before, " .. after[k] .. " after")
end
