-- Creates one of everything, including a nested runtime, then fails.
local lunatik, rcu, data, fifo, completion = require("lunatik"), require("rcu"), require("data"), require("fifo"), require("completion")
local t = rcu.table()
t.d = data.new(1024)
t.f = fifo.new(1024)
t.c = completion.new()
t.nested = lunatik.runtime("scripts/echo")
_G.keep = { t, data.new(10, "single") }
local r = lunatik.runtime("scripts/eval")
r:resume("_G.x = ...", t)
local x = 1
error("failed after registering objects")
