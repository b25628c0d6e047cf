-- worker.lua: a thread body that counts in the rcu table `state` until it
-- is asked to stop.
local thread = require("thread")
return function(state)
  state.me = thread.current()
  local n = 0
  while not thread.shouldstop() do
    n = n + 1
    state.n = n
    thread.sleep(5)
  end
  state.stopped = true
end
