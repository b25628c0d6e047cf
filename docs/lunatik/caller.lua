-- caller.lua: looks a runtime up by name in lunatik._ENV and resumes it
-- with the remaining arguments, once per resume of its own.
local env = require("lunatik")._ENV
local function call(name, ...)
  return call(coroutine.yield(env[name]:resume(...)))
end
return call
