-- §8: data buffers, bounds-checked.
local data = require("data")
local d = data.new(16)
assert(#d == 16)
d:setbyte(0, 0x1ff); assert(d:getbyte(0) == 0xff)
d:setint8(1, -2); assert(d:getint8(1) == -2 and d:getuint8(1) == 254)
d:setint16(2, -3); assert(d:getint16(2) == -3 and d:getuint16(2) == 65533)
d:setint32(4, -4); assert(d:getint32(4) == -4 and d:getuint32(4) == 4294967292)
d:setint64(8, math.mininteger); assert(d:getint64(8) == math.mininteger)
d:setnumber(8, 123456789012); assert(d:getnumber(8) == 123456789012)
d:setstring(0, "hello"); assert(d:getstring(0, 5) == "hello")
assert(#d:getstring(3) == 13)
d:resize(4); assert(#d == 4 and d:getstring(0) == "hell")
d:resize(6); assert(d:getstring(4) == "\0\0")
local c = data.new(4); c:setstring(0, "\0\1\242\3")
assert(c:checksum() == (~(0x0001 + 0xf203) & 0xffff))
for _, call in ipairs({
  function() return d:getbyte(6) end,
  function() return d:getuint16(5) end,
  function() return d:getint64(-1) end,
  function() return d:setstring(5, "xx") end,
  function() return d:getstring(0, 7) end,
  function() return d:getstring(7) end,
}) do
  local ok, err = pcall(call)
  assert(not ok and err:find("out of bounds"), err)
end
for _, bad in ipairs({ -1, 1 << 40, "x", {} }) do
  local ok, err = pcall(data.new, bad)
  assert(not ok and err:find("bad argument #1 to 'new'"), err)
end
local ok, err = pcall(d.getbyte, 5, 1)
assert(not ok and err:find("bad self to 'getbyte'"), err)
