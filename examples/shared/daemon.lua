-- The "shared" daemon (a port of Lunatik's examples/shared.lua): an
-- in-memory key/value store kept in an rcu table, served on a ned channel.
-- Each accepted connection gets its own runtime on its own thread
-- (shared/session.lua); all of them read and write the same table.
local lunatik = require("lunatik")
local thread = require("thread")
local socket = require("socket")
local linux = require("linux")
local rcu = require("rcu")

local store = rcu.table()

return function(channel)
  local server = socket.from(channel)   -- the channel's listening end
  server:settimeout(0.1)                -- so that shouldstop() is seen
  local sessions, n = {}, 0
  while not thread.shouldstop() do
    local ok, conn = pcall(server.accept, server)
    if ok then
      n = n + 1
      local rt = lunatik.runtime("shared/session")
      sessions[n] = { thread.run(rt, "session", conn, store), rt }
    elseif conn ~= linux.errno.AGAIN then
      error("accept failed: errno " .. tostring(conn))
    end
  end
  for _, s in ipairs(sessions) do s[1]:stop(); s[2]:stop() end
  server:close()
end
