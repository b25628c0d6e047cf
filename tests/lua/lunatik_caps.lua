-- ned's caps are Lunatik shareable objects: they cross into runtimes through
-- resume and rcu tables and come back as the same object with their rights.
local check = require("check")
local L4 = require("L4")
local lunatik = require("lunatik")

local ch = L4.default_loader:new_channel()
local rt = lunatik.runtime("runtimes/cap_holder")

local text, back, method = rt:resume(ch:svr())
check.eq(text, tostring(ch:svr()), "tostring inside the runtime")
check.eq(method, nil, "L4 methods are not visible inside a runtime")
check.truthy(back == ch, "the same object comes back")
check.eq(back:m(), 0x2f, "rights survive the round trip")

local ds = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)
lunatik._ENV.ds = ds
check.truthy(lunatik._ENV.ds == ds, "a cap in an rcu table is the same object")
check.eq(lunatik._ENV.ds:m(), L4.Rights.r, "rcu keeps the reference's rights")

local _, again = rt:resume(nil)
check.truthy(again == ch, "the runtime kept its handle")
rt:stop()
lunatik._ENV.ds = nil
check.done()
