-- echo.lua: a body that yields back whatever it is resumed with, forever.
-- The first resume calls echo(...); each later resume returns from the
-- yield with the new arguments, which go straight back out.
local function echo(...)
  return echo(coroutine.yield(...))
end
return echo
