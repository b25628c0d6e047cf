-- A general-purpose runtime body for tests: each resume passes Lua source
-- and arguments; the chunk runs inside this runtime and its results are
-- yielded back.
local pack, unpack, yield = table.pack, table.unpack, coroutine.yield
return function(code, ...)
  local args = pack(...)
  while true do
    local f = assert(load(code, "=eval"))
    local r = pack(yield(f(unpack(args, 1, args.n))))
    code, args = r[1], pack(unpack(r, 2, r.n))
  end
end
