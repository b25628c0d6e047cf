-- §9: two runtimes exchanging a fifo through resume.
local lunatik, fifo = require("lunatik"), require("fifo")
local producer = lunatik.runtime("scripts/eval")
local consumer = lunatik.runtime("scripts/eval")

local q = producer:resume("_G.q = require('fifo').new(64); return q")
assert(tostring(q):find("^fifo"))
consumer:resume("_G.q = ...", q)
producer:resume("q:push('hello '); q:push('world')")
local s, n = consumer:resume("return q:pop(100)")
assert(s == "hello world" and n == 11, s)
-- the main state sees the same fifo
q:push("x")
assert(consumer:resume("return (q:pop(1))") == "x")
-- full
local ok, err = pcall(q.push, q, string.rep("a", 65))
assert(not ok and err:find("not enough space"), err)
producer:stop(); consumer:stop()
