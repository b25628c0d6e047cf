-- Runtime body for bench/lunatik.sh: echoes one Unix stream connection on
-- `path`; `bound` is completed once it listens.
local unix = require("socket.unix")
return function(path, bound)
  local server = unix.stream(path)
  server:bind(); server:listen()
  bound:complete()
  local conn = server:accept()
  while true do
    local msg = conn:receive(1024)
    if msg == "" then break end
    conn:send(msg)
  end
  conn:close(); server:close()
  os.remove(path)
end
