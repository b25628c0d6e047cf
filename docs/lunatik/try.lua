-- try.lua: runs each chunk of Lua source it is resumed with (passing the
-- further arguments) and yields what pcall returns: true, results... or
-- false, message.
local function try(src, ...)
  return try(coroutine.yield(pcall(load(src, "=try"), ...)))
end
return try
