-- Thread body for the runner test: counts in lunatik._ENV until stopped.
local thread, lunatik = require("thread"), require("lunatik")
return function()
  while not thread.shouldstop() do
    lunatik._ENV.spins = (lunatik._ENV.spins or 0) + 1
    thread.sleep(1)
  end
end
