return function()
  coroutine.yield("first")
  error("body failed")
end
