-- The echo daemon (a port of Lunatik's examples/echod): listens on TCP and
-- hands each connection to a worker runtime on its own thread. Upstream
-- binds port 1337; here the port is the daemon's first argument (0: any
-- free port); it puts the port it got in `ready` and completes `bound`.
local lunatik = require("lunatik")
local thread = require("thread")
local inet = require("socket.inet")
local linux = require("linux")
local data = require("data")

return function(port, ready, bound)
  local server = inet.tcp()
  server:bind(inet.localhost, port)
  server:listen()
  server:settimeout(0.1)
  ready.port = select(2, server:getsockname())
  bound:complete()
  local control = data.new(2)
  control:setbyte(1, 1)   -- alive
  local workers, n = {}, 0
  while not thread.shouldstop() do
    local ok, session = pcall(server.accept, server)
    if ok then
      n = n + 1
      control:setbyte(0, n)
      local rt = lunatik.runtime("echod/worker")
      workers[n] = { thread.run(rt, "echod/worker" .. n, n, session), rt }
    elseif session ~= linux.errno.AGAIN then
      error("accept failed: errno " .. tostring(session))
    end
  end
  control:setbyte(1, 0)   -- dead
  for _, w in ipairs(workers) do w[1]:stop(); w[2]:stop() end
  server:close()
end
