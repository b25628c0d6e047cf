-- Non-sleepable body: queries a set handed over by resume, or the one in
-- lunatik._ENV when given nil.
local lunatik = require("lunatik")
return function(s, key)
  while true do
    s = s or lunatik._ENV.blocked
    local answer
    if s.has then answer = s:has(key) else answer = s:match(key) end
    s, key = coroutine.yield(answer)
  end
end
