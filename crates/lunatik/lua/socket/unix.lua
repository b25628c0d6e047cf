-- socket.unix: Unix domain sockets with upstream Lunatik's interface. An
-- object may be made with a path, used by bind, connect and sendto when
-- they are given none. A path starting with "\0" is an abstract name.
local socket = require("socket")

local unix = {}
local base = {}
base.__index = base

local function kind(type)
  local k = setmetatable({ type = type }, base)
  k.__index = k
  return setmetatable(k, {
    __index = base,
    __call = function(self, path)
      return setmetatable({ path = path, socket = socket.new(socket.af.UNIX, self.type) }, self)
    end,
  })
end

function base:close() self.socket:close() end
function base:bind(path) return self.socket:bind(path or self.path) end
function base:connect(path) return self.socket:connect(path or self.path) end
function base:receive(...) return self.socket:receive(...) end
function base:getsockname() return self.socket:getsockname() end
function base:getpeername() return self.socket:getpeername() end
function base:settimeout(s) self.socket:settimeout(s) end
function base:send(msg, path)
  if path then return self.socket:send(msg, path) end
  return self.socket:send(msg)
end

unix.stream = kind(socket.sock.STREAM)
function unix.stream:listen(backlog) return self.socket:listen(backlog) end
function unix.stream:accept(flags) return self.socket:accept(flags) end

-- ned addition: message-preserving connections, what ned's channels are.
unix.seqpacket = kind(socket.sock.SEQPACKET)
unix.seqpacket.listen = unix.stream.listen
unix.seqpacket.accept = unix.stream.accept

unix.dgram = kind(socket.sock.DGRAM)
function unix.dgram:receivefrom(len, flags) return self.socket:receive(len, flags, true) end
function unix.dgram:sendto(msg, path)
  local dest = path or self.path
  if dest then return self.socket:send(msg, dest) end
  return self.socket:send(msg)
end

return unix
