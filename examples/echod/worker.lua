-- One echod connection: sends back what it receives until the peer closes
-- or the thread is asked to stop.
local thread = require("thread")
local linux = require("linux")

return function(id, session)
  session:settimeout(0.1)
  while not thread.shouldstop() do
    local ok, msg = pcall(session.receive, session, 1024)
    if ok then
      if msg == "" then break end
      session:send(msg)
    elseif msg ~= linux.errno.AGAIN then
      break   -- reset by the peer
    end
  end
  session:close()
end
