-- Thread body: reads keys and checks every value it sees is whole.
return function(t, rounds, result)
  local seen = 0
  for r = 1, rounds do
    for i = 0, 63 do
      local v = t["k" .. i]
      if v ~= nil then
        local id, k = v:match("^(%d+):(%d+)$")
        assert(id and tonumber(k) == i, "torn or wrong value " .. tostring(v))
        seen = seen + 1
      end
    end
  end
  result.seen = (result.seen or 0) + seen
end
