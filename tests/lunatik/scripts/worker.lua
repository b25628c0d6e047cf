-- Thread body: counts until asked to stop.
local thread = require("thread")
return function(counter)
  assert(thread.current():task().name == "worker")
  local n = 0
  while not thread.shouldstop() do
    n = n + 1
    counter.n = n
    thread.sleep(1)
  end
  counter.stopped = true
end
