-- Thread body: accepts one connection on the given listening socket and
-- echoes each message back upper-cased until the peer closes.
return function(server)
  local conn = server:accept()
  while true do
    local msg = conn:receive(4096)
    if msg == "" then break end
    conn:send(msg:upper())
  end
  conn:close()
end
