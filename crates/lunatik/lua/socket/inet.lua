-- socket.inet: TCP and UDP over IPv4 with upstream Lunatik's interface.
-- Addresses are dotted strings here ("127.0.0.1", "*" for any) and become
-- the host-order integers the `socket` module takes.
local socket = require("socket")

local inet = { localhost = "127.0.0.1" }

function inet.aton(addr)
  local ip, parts = 0, 0
  for n in string.gmatch(addr, "%d+") do
    ip = (ip << 8) | (tonumber(n) & 0xFF)
    parts = parts + 1
  end
  if parts ~= 4 then error("invalid IPv4 address '" .. tostring(addr) .. "'", 2) end
  return ip
end

function inet.ntoa(ip)
  return string.format("%d.%d.%d.%d", (ip >> 24) & 0xFF, (ip >> 16) & 0xFF, (ip >> 8) & 0xFF, ip & 0xFF)
end

local base = {}
base.__index = base

local function kind(type, proto)
  local k = setmetatable({ type = type, proto = proto }, base)
  k.__index = k
  return setmetatable(k, {
    __index = base,
    __call = function(self)
      return setmetatable({ socket = socket.new(socket.af.INET, self.type, self.proto) }, self)
    end,
  })
end

function base:close() self.socket:close() end
function base:receive(...) return self.socket:receive(...) end
function base:settimeout(s) self.socket:settimeout(s) end

function base:send(msg, addr, port)
  if addr then return self.socket:send(msg, inet.aton(addr), port) end
  return self.socket:send(msg)
end

function base:bind(addr, port)
  return self.socket:bind(addr == "*" and 0 or inet.aton(addr), port)
end

function base:connect(addr, port, flags)
  return self.socket:connect(inet.aton(addr), port, flags)
end

function base:getsockname()
  local ip, port = self.socket:getsockname()
  return inet.ntoa(ip), port
end

function base:getpeername()
  local ip, port = self.socket:getpeername()
  return inet.ntoa(ip), port
end

inet.tcp = kind(socket.sock.STREAM, socket.ipproto.TCP)
function inet.tcp:listen(backlog) return self.socket:listen(backlog) end
function inet.tcp:accept(flags) return self.socket:accept(flags) end

inet.udp = kind(socket.sock.DGRAM, socket.ipproto.UDP)
function inet.udp:receivefrom(len, flags)
  local msg, ip, port = self.socket:receive(len, flags, true)
  return msg, ip and inet.ntoa(ip), port
end
inet.udp.sendto = inet.udp.send

return inet
