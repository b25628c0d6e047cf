-- One connection of the "shared" store: "key=value\n" sets, "key=\n"
-- deletes, "key\n" answers "value\n" (an empty line when absent). One
-- request per message: the connection is a ned channel (SOCK_SEQPACKET).
local thread = require("thread")

return function(conn, store)
  conn:settimeout(0.1)
  while not thread.shouldstop() do
    local ok, request = pcall(conn.receive, conn, 1024)
    if ok then
      if request == "" then break end   -- the client closed
      local key, assign, value = request:match("^(%w+)(=?)(.-)\n?$")
      if key and assign == "=" then
        store[key] = value ~= "" and value or nil
        conn:send("ok\n")
      elseif key then
        conn:send((store[key] or "") .. "\n")
      else
        conn:send("error: bad request\n")
      end
    end
  end
  conn:close()
end
