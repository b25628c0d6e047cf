-- §9: a receiver that yields repeatedly.
local lunatik = require("lunatik")
local rx = lunatik.runtime("scripts/receiver")
local total = 0
for i = 1, 100 do
  total = rx:resume(i)
end
assert(total == 5050, total)
assert(rx:resume("done") == "done:5050")
local ok, err = pcall(rx.resume, rx, 1)
assert(not ok and err:find("cannot resume dead runtime"), err)
rx:stop()
