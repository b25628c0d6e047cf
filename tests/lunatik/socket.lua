-- §8 socket: Unix (stream, seqpacket, datagram), TCP and UDP; errors are
-- errnos raised as integers, as upstream; timeouts; close; sockets shared
-- with a server thread; refused in non-sleepable runtimes.
local socket, lunatik, thread = require("socket"), require("lunatik"), require("thread")
local inet, unix, linux = require("socket.inet"), require("socket.unix"), require("linux")
local errno = linux.errno
collectgarbage(); collectgarbage()
local before = test.stats().sockets

-- Echoes (upper-cased) through a server thread: `listener` is a raw
-- listening socket, `client` a connected object of socket.inet/unix.
local function exchange(listener, client)
  local rt = lunatik.runtime("scripts/sock_server")
  local t = thread.run(rt, "sock_server", listener)
  for _, m in ipairs({ "hello", "second message", string.rep("x", 3000) }) do
    assert(client:send(m) == #m)
    local got = ""
    while #got < #m do got = got .. client:receive(4096) end
    assert(got == m:upper(), got)
  end
  client:close()
  assert(t:stop() == true)
  rt:stop()
end

-- TCP on an ephemeral port of 127.0.0.1.
local tcp = inet.tcp()
tcp:bind(inet.localhost, 0)
tcp:listen()
local ip, port = tcp:getsockname()
assert(ip == "127.0.0.1" and port > 0, ip .. ":" .. port)
local c = inet.tcp()
c:connect(inet.localhost, port)
assert(select(2, c:getpeername()) == port)
exchange(tcp.socket, c)
tcp:close()

-- Unix stream and seqpacket on paths, and an abstract name.
local dir = os.tmpname(); os.remove(dir)
for _, kind in ipairs({ "stream", "seqpacket" }) do
  for _, path in ipairs({ dir .. "." .. kind, "\0ned-test-" .. kind .. "-" .. tostring({}):sub(8) }) do
    local srv = unix[kind](path)
    srv:bind(); srv:listen()
    assert(srv:getsockname() == path)
    local cl = unix[kind](path)
    cl:connect()
    exchange(srv.socket, cl)
    srv:close()
    if path:sub(1, 1) ~= "\0" then os.remove(path) end
  end
end

-- Datagrams: UDP with the sender's address, Unix dgram to a path.
local u1, u2 = inet.udp(), inet.udp()
u1:bind(inet.localhost, 0); u2:bind(inet.localhost, 0)
local _, p1 = u1:getsockname()
local _, p2 = u2:getsockname()
assert(u2:sendto("ping", inet.localhost, p1) == 4)
local msg, from, fport = u1:receivefrom(100)
assert(msg == "ping" and from == "127.0.0.1" and fport == p2, tostring(msg) .. " " .. tostring(fport))
u1:close(); u2:close()
local dpath = dir .. ".dgram"
local d1, d2 = unix.dgram(dpath), unix.dgram()
d1:bind()
assert(d2:sendto("datagram", dpath) == 8)
assert(d1:receive(100) == "datagram")
d1:close(); d2:close(); os.remove(dpath)

-- Errors are errnos, as upstream: nothing to accept (NONBLOCK), a timeout,
-- a refused connection, a closed socket.
local l = inet.tcp(); l:bind(inet.localhost, 0); l:listen()
local ok, err = pcall(l.accept, l, socket.sock.NONBLOCK)
assert(not ok and err == errno.AGAIN, tostring(err))
l:settimeout(0.05)
ok, err = pcall(l.accept, l)
assert(not ok and err == errno.AGAIN, tostring(err))
local _, lport = l:getsockname()
l:close()
ok, err = pcall(l.accept, l)
assert(not ok and err == errno.BADF, tostring(err))
local r = inet.tcp()
ok, err = pcall(r.connect, r, inet.localhost, lport)
assert(not ok and err == errno.CONNREFUSED, tostring(err))
r:close()

-- Bad arguments are ordinary errors.
ok, err = pcall(socket.new, 99, socket.sock.STREAM)
assert(not ok and err:find("bad argument #1 to 'new'", 1, true), err)
ok, err = pcall(socket.new, socket.af.INET, 42)
assert(not ok and err:find("bad argument #2 to 'new'", 1, true), err)
ok, err = pcall(inet.aton, "1.2.3")
assert(not ok and err:find("invalid IPv4 address", 1, true), err)
local s = socket.new(socket.af.INET, socket.sock.STREAM)
ok, err = pcall(s.bind, s, "not an address", 1)
assert(not ok and err:find("bad argument #1 to 'bind' (invalid IPv4 address)", 1, true), err)
ok, err = pcall(s.bind, s, inet.aton("127.0.0.1"), 70000)
assert(not ok and err:find("invalid port", 1, true), err)
ok, err = pcall(s.receive, s, -1)
assert(not ok and err:find("bad argument #1 to 'receive'", 1, true), err)
ok, err = pcall(s.settimeout, s, -1)
assert(not ok and err:find("timeout must be a positive number", 1, true), err)
ok, err = pcall(socket.from, {})
assert(not ok and err:find("bad argument #1 to 'from' (cap expected", 1, true), err)
ok, err = pcall(socket.from, require("rcu").table())
assert(not ok and err:find("a rcu has no socket", 1, true), err)
s:close()

-- Not in a non-sleepable runtime.
local ns = lunatik.runtime("scripts/eval", false)
ok, err = pcall(ns.resume, ns, "return require('socket').new(2, 1)")
assert(not ok and err:find("'socket.new' is not allowed in a non-sleepable runtime", 1, true), err)
ns:stop()

s, c, tcp, l, r, u1, u2, d1, d2 = nil
collectgarbage(); collectgarbage()
assert(test.stats().sockets == before, test.stats().sockets .. " sockets left, " .. before .. " before")
