-- Run on its own OS thread: says it is inside its runtime, waits until the
-- other one is inside its own, then resumes the other runtime, which that
-- thread holds. Records how that went; then yields, so that the other side,
-- if it gets in later, finds a body to continue.
return function(me, other, mine, theirs, results)
  mine:complete()
  assert(theirs:wait(10000), "the other thread never started")
  local ok, err = pcall(other.resume, other, me)
  results[me] = ok and "ok" or err
  return coroutine.yield()
end
