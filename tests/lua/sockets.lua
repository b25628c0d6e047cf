-- L4.socket (issue 7 point 10): what a good call makes, and a table of
-- malformed calls, each of which must raise a Lua error naming L4.socket
-- and the bad field. None of the failures may leave a socket behind in ned.
local check = require("check")
local L4 = require("L4")

-- ned's open sockets, counted by a shell whose parent is ned (only
-- sockets: the popen pipe's other end may or may not be closed yet in ned
-- when `ls` looks); caps nobody holds are collected first, so only a leak
-- changes the count.
local function ned_sockets()
  collectgarbage()
  collectgarbage()
  local p = assert(io.popen("ls -l /proc/$PPID/fd 2>/dev/null | grep -c 'socket:'"))
  local n = tonumber(p:read("a"))
  p:close()
  return n
end

-- A fresh path for a Unix socket (os.tmpname makes the file; the bind
-- needs the name free). All are removed at the end.
local made = {}
local function tmp_path()
  local p = os.tmpname()
  os.remove(p)
  made[#made + 1] = p .. ".sock"
  return p .. ".sock"
end

-- What good calls make.
local tcp = L4.socket({ tcp = "127.0.0.1:0" })
local port = tcp:address():match("^127%.0%.0%.1:(%d+)$")
check.truthy(port and tonumber(port) > 0, "port 0 binds a port the kernel chose: " .. tcp:address())
check.eq(tcp:protocol(), "tcp", "protocol")
check.eq(tcp:listening(), true, "a TCP socket listens")
check.eq(tcp:m(), L4.Rights.rws, "a new socket cap has rws")
check.truthy(tostring(tcp):find("^L4::Cap<Socket>%[fd %d+ tcp 127%.0%.0%.1:%d+ listening%] r=0x7$"), tostring(tcp))
check.eq(L4.cast("Socket", tcp), tcp, "cast to Socket")
check.eq(L4.cast("L4::Namespace", tcp), nil, "a socket is no namespace")
check.eq(L4.default_loader:new_channel().address, nil, "a channel has no socket methods")

local udp6 = L4.socket({ udp = "[::1]:0" })
check.truthy(udp6:address():match("^%[::1%]:%d+$"), udp6:address())
check.eq(udp6:listening(), false, "a UDP socket does not listen")

local path = tmp_path()
local unix = L4.socket({ unix = path, mode = "0600" })
check.eq(unix:address(), path, "a Unix socket's address is its path")
check.eq(unix:protocol(), "unix-stream", "stream by default")
local dgram = L4.socket({ unix = "@ned-sockets-lua-" .. tostring(tcp:address()), type = "dgram" })
check.eq(dgram:protocol(), "unix-dgram", "type = dgram")
check.eq(dgram:listening(), false, "a datagram socket does not listen")
check.eq(L4.socket({ unix = tmp_path(), type = "seqpacket", backlog = 1 }):protocol(), "unix-seqpacket")
check.eq(L4.socket({ tcp = "127.0.0.1:0", reuseaddr = false, backlog = 0 }):listening(), true)

-- A socket file whose socket is gone (here: collected) is taken over.
local stale = tmp_path()
do local s = L4.socket({ unix = stale }) end
collectgarbage()
collectgarbage()
check.eq(L4.socket({ unix = stale }):address(), stale, "a stale socket file is reused")

-- Malformed calls: the argument, and a fragment the message must contain
-- besides "bad argument #1 to 'L4.socket' (".
local udp4 = L4.socket({ udp = "127.0.0.1:0" })
local rows = {
  { "x", "table expected, got string" },
  { nil, "table expected, got nil" },
  { {}, "one of the fields 'tcp', 'udp' or 'unix' is needed" },
  { { backlog = 5 }, "one of the fields" },
  { { tcp = "127.0.0.1:0", udp = "127.0.0.1:0" }, "'tcp' and 'udp' both given" },
  { { udp = "127.0.0.1:0", unix = "/tmp/x" }, "'udp' and 'unix' both given" },
  { { tcp = "127.0.0.1:0", colour = "red" }, "unknown field 'colour'" },
  { { tcp = "127.0.0.1:0", [1] = "x" }, "unknown field of type number" },
  { { tcp = 8080 }, "tcp: string expected, got number" },
  { { tcp = "127.0.0.1" }, "tcp: '127.0.0.1' has no port" },
  { { tcp = "::1" }, "tcp: '::1' has no port" },
  { { tcp = "127.0.0.1:70000" }, "tcp: port 70000 is out of range 0..65535" },
  { { udp = "[::1]:65536" }, "udp: port 65536 is out of range" },
  { { tcp = "127.0.0.1:-1" }, "tcp: port '-1' is not a number" },
  { { tcp = "127.0.0.1:" }, "tcp: port '' is not a number" },
  { { tcp = "127.0.0.1:http" }, "tcp: port 'http' is not a number" },
  { { tcp = "1.2.3.4.5:80" }, "tcp: '1.2.3.4.5' is not an IP address" },
  { { tcp = "localhost:80" }, "tcp: 'localhost' is not an IP address (host names are not resolved)" },
  { { tcp = "[::1:80" }, "tcp: '[::1:80' has no port" },
  { { tcp = string.rep("9", 1000) .. ":1" }, "..." },
  { { tcp = "192.0.2.1:80" }, "tcp: failed to bind 192.0.2.1:80: " },
  { { tcp = tcp:address() }, "tcp: failed to bind " .. tcp:address() .. ": Address already in use" },
  { { udp = udp4:address() }, "udp: failed to bind " .. udp4:address() .. ": Address already in use" },
  { { unix = path }, "unix: failed to bind " .. path .. ": Address already in use" },
  { { unix = "relative.sock" }, "unix: 'relative.sock' is neither an absolute path nor an abstract name" },
  { { unix = "" }, "unix: the path is empty" },
  { { unix = "@" }, "unix: the path is empty" },
  { { unix = "/tmp/a\0b" }, "unix: the path contains a NUL byte" },
  { { unix = "/" .. string.rep("x", 200) }, "unix: the path is 201 bytes, more than the 107" },
  { { unix = "@" .. string.rep("x", 200) }, "unix: the path is 201 bytes" },
  { { unix = "/no/such/dir/x.sock" }, "unix: failed to bind /no/such/dir/x.sock: No such file or directory" },
  { { unix = tmp_path(), mode = "0999" }, "mode: '0999' is not an octal mode" },
  { { unix = tmp_path(), mode = "1777" }, "mode: '1777' is not an octal mode" },
  { { unix = tmp_path(), mode = 660 }, "mode: octal string like '0660' expected, got number" },
  { { unix = "@ned-abstract", mode = "0600" }, "mode: an abstract socket has no file" },
  { { tcp = "127.0.0.1:0", mode = "0600" }, "mode: not an option of a tcp socket" },
  { { unix = tmp_path(), type = "raw" }, "type: 'raw' is not 'stream', 'dgram' or 'seqpacket'" },
  { { unix = tmp_path(), type = 1 }, "type: string expected, got number" },
  { { tcp = "127.0.0.1:0", type = "stream" }, "type: not an option of a tcp socket" },
  { { udp = "127.0.0.1:0", backlog = 5 }, "backlog: not an option of a udp socket" },
  { { unix = tmp_path(), type = "dgram", backlog = 5 }, "backlog: a datagram socket does not listen" },
  { { tcp = "127.0.0.1:0", backlog = -1 }, "backlog: -1 is out of range 0..65535" },
  { { tcp = "127.0.0.1:0", backlog = 1 << 40 }, "backlog: 1099511627776 is out of range" },
  -- Only the field is pinned here: the wording of a non-integer follows
  -- the one integer rule of all bindings.
  { { tcp = "127.0.0.1:0", backlog = 1.5 }, "backlog: " },
  { { tcp = "127.0.0.1:0", backlog = {} }, "backlog: " },
  { { tcp = "127.0.0.1:0", reuseaddr = "yes" }, "reuseaddr: boolean expected, got string" },
  { { unix = tmp_path(), reuseaddr = true }, "reuseaddr: not an option of a unix socket" },
}

local before = ned_sockets()
check.truthy(before >= 5, "the count sees the sockets made above: " .. before)
for round = 1, 3 do
  for i, row in ipairs(rows) do
    local err = check.raises("bad argument #1 to 'L4.socket' (", L4.socket, row[1])
    check.truthy(tostring(err):find(row[2], 1, true), "row " .. i .. ": " .. tostring(err) .. " lacks " .. row[2])
    check.truthy(#tostring(err) < 400, "row " .. i .. ": message of " .. #tostring(err) .. " bytes")
  end
end
check.eq(ned_sockets(), before, "sockets open in ned after " .. 3 * #rows .. " failed calls")

-- The methods want a socket cap.
check.raises("bad argument #0 to 'address' (socket expected)", tcp.address, L4.default_loader:new_channel())
check.raises("capability expected", tcp.protocol, 5)
for _, p in ipairs(made) do os.remove(p) end
check.done()
