-- A log hook (non-sleepable: it runs inline on ned's loop): hides the value
-- of every `password=...` in task lines and counts lines per tag in an rcu
-- table published as lunatik._ENV.log_counts, which the boot script, other
-- runtimes and the prompt (`ned-prompt -e 'return
-- require("lunatik")._ENV.log_counts.app'`) can read.
local lunatik, rcu = require("lunatik"), require("rcu")
local counts = rcu.table()
lunatik._ENV.log_counts = counts

return function(tag, stream, line)
  while true do
    counts[tag] = (counts[tag] or 0) + 1
    line = line:gsub("(password=)%S+", "%1<redacted>")
    tag, stream, line = coroutine.yield(line)
  end
end
