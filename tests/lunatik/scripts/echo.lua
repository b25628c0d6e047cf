-- Yields back whatever it is resumed with, forever.
return function(...)
  local args = table.pack(...)
  while true do
    args = table.pack(coroutine.yield(table.unpack(args, 1, args.n)))
  end
end
