-- guard.lua: leaves an object whose finalizer notes in the rcu table `seen`
-- that the runtime's state was closed.
return function(seen)
  guard = setmetatable({}, { __gc = function() seen.closed = true end })
  coroutine.yield("armed")
end
