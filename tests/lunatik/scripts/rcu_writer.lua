-- Thread body: writes keys k0..k63 with values "<id>:<i>" until stopped.
local thread = require("thread")
return function(t, id, rounds)
  for r = 1, rounds do
    for i = 0, 63 do
      t["k" .. i] = id .. ":" .. i
      if r % 2 == 0 and i % 7 == 0 then t["k" .. i] = nil end
    end
  end
end
