-- producer.lua: a thread body that pushes `n` fixed-size records into the
-- fifo `f` and completes `ready` once per record.
return function(f, ready, n)
  for i = 1, n do
    f:push(string.format("item %03d", i))
    ready:complete()
  end
end
