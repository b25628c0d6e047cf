-- A log hook for docs/lunatik.md: counts each tag's lines in
-- lunatik._ENV.lines and keeps every line as it is.
local lunatik, rcu = require("lunatik"), require("rcu")
local lines = rcu.table()
lunatik._ENV.lines = lines
return function(tag, stream, line)
  while true do
    lines[tag] = (lines[tag] or 0) + 1
    tag, stream, line = coroutine.yield(line)
  end
end
