-- §4: "single" objects refuse to be shared.
local lunatik, rcu, data, fifo, completion = require("lunatik"), require("rcu"), require("data"), require("fifo"), require("completion")
local echo = lunatik.runtime("scripts/echo")
local t = rcu.table()
for _, o in ipairs({ data.new(4, "single"), fifo.new(4, "single"), completion.new("single") }) do
  local ok, err = pcall(echo.resume, echo, o)
  assert(not ok and err:find("cannot share SINGLE object"), err)
  ok, err = pcall(function() t.x = o end)
  assert(not ok and err:find("cannot share SINGLE object"), err)
end
-- "shared" is the default and explicit spelling
assert(echo:resume(data.new(4, "shared")))
local ok, err = pcall(data.new, 4, "lonely")
assert(not ok and err:find("bad argument #2 to 'new'"), err)
echo:stop()
