-- Spec §5-§7: capabilities as Lua values, L4.Env, ned's own factories.
local check = require("check")
local eq, raises, truthy = check.eq, check.raises, check.truthy
local L4 = require("L4")
local E = L4.Env
local ld = L4.default_loader

-- Rights: string forms start from r and OR one bit per letter.
local ch = ld:new_channel()
eq(ch:m(), 4, "a new channel starts with r")
local cases = {
  { "", 4 }, { "r", 4 }, { "R", 4 }, { "w", 5 }, { "W", 5 }, { "rw", 5 }, { "s", 6 },
  { "S", 6 }, { "d", 12 }, { "D", 12 }, { "n", 20 }, { "N", 20 }, { "c", 36 }, { "C", 36 },
  { "rws", 7 }, { "rwsdnc", 63 }, { "xyz", 4 }, { "wq!", 5 }, { "ww", 5 },
}
for _, c in ipairs(cases) do
  for _, alias in ipairs({ "mode", "m", "rights" }) do
    eq(ch[alias](ch, c[1]):m(), c[2], alias .. "(" .. string.format("%q", c[1]) .. ")")
  end
end
-- Number forms OR in r.
for _, c in ipairs({ { 0, 4 }, { 1, 5 }, { 2, 6 }, { 4, 4 }, { 7, 7 }, { 63, 63 }, { 32, 36 } }) do
  for _, alias in ipairs({ "mode", "m", "rights" }) do
    eq(ch[alias](ch, c[1]):m(), c[2], alias .. "(" .. c[1] .. ")")
  end
end
-- Same object back when nothing changes, a new reference otherwise.
eq(rawequal(ch:m("r"), ch), true, "m('r') on an r cap is the same userdata")
eq(rawequal(ch:m(4), ch), true, "m(4) on an r cap is the same userdata")
eq(rawequal(ch:m(0), ch), true, "m(0) is r: same userdata")
local rw = ch:m("rw")
eq(rawequal(rw, ch), false, "m('rw') is a new reference")
eq(rw == ch, true, "... to the same object")
eq(ch:m(), 4, "the original keeps its rights")
eq(rawequal(rw:m("w"), rw), true, "rw:m('w') is unchanged")

-- svr()
eq(ch:svr():m(), 4 | 1 | 2 | 8 | 32, "svr() is rwsdc")
eq(ch:svr() == ch, true, "svr() names the same object")

-- is_valid, tostring, ==
eq(ch:is_valid(), true, "is_valid")
local s = tostring(ch)
truthy(s:find("^L4::Cap<"), "tostring starts with L4::Cap<: " .. s)
truthy(s:find("r=0x4", 1, true), "tostring shows the rights: " .. s)
truthy(tostring(rw):find("r=0x5", 1, true), "tostring shows rw: " .. tostring(rw))
local ch2 = ld:new_channel()
eq(ch == ch2, false, "two channels differ")
eq(ch == ch, true, "a cap equals itself")
eq(ch == {}, false, "a cap is not a table")
eq(E.rom == E.rom, true, "L4.Env.rom equals itself")

-- L4.Env (spec §6)
for _, name in ipairs({ "rom", "log", "factory", "mem_alloc", "user_factory", "scheduler", "parent", "rm" }) do
  eq(type(E[name]), "userdata", "L4.Env." .. name)
  eq(E[name]:is_valid(), true, "L4.Env." .. name .. " is valid")
  eq(E[name]:m(), 7, "L4.Env." .. name .. " carries rws")
end
eq(E.user_factory == E.mem_alloc, true, "user_factory is mem_alloc")
for _, name in ipairs({ "vesa", "jdb", "sigma0", "nonexistent", "" }) do
  eq(E[name], nil, "L4.Env." .. name .. " is nil")
end
if not E.vesa then check.truthy(true) else error("vesa present") end

-- rom is a directory: query gives a function that gives a read-only file cap.
local q = E.rom:query("probe")
eq(type(q), "function", "rom:query returns a function")
local f = q()
eq(type(f), "userdata", "rom:query('probe')()")
eq(f:m(), 4, "a queried file cap is read-only (r)")
eq(E.rom:query("no-such-file")(), nil, "a missing rom file is nil")
eq(E.rom:q("probe")():m(), 4, "q is query")
eq(E.rom:query("probe", "rw")():m(), 5, "query with rights")
raises("query: '../etc/passwd' escapes the directory", E.rom:query("../etc/passwd"))

-- rm and parent: valid, every method raises "not supported on Linux".
for _, name in ipairs({ "rm", "parent" }) do
  for _, m in ipairs({ "attach", "detach", "signal", "reserve_area", "anything" }) do
    raises("not supported on Linux", function() return E[name][m](E[name]) end)
  end
end

-- Dynamic types: per-type methods are nil on other types.
eq(type(E.factory.create), "function", "factory:create")
eq(type(E.rom.query), "function", "rom:query")
eq(E.rom.create, nil, "a directory has no create")
eq(E.rom.register, nil, "a directory has no register")
eq(E.log.query, nil, "a log has no query")
eq(E.log.create, nil, "a log has no create")
eq(E.factory.query, nil, "a factory has no query")
eq(E.factory.register, nil, "a factory has no register")
eq(f.query, nil, "a file has no query")
eq(f.create, nil, "a file has no create")
eq(ch.query, nil, "a channel has no query")
eq(ch.register, nil, "a channel has no register")
raises(nil, function() return E.log:query("x") end)

-- Factory create (spec §7): each type with its methods.
local fab = E.factory
local ns = fab:create(L4.Proto.Namespace)
eq(ns:m(), 4, "created caps start with r")
eq(type(ns.query), "function", "namespace:query")
eq(type(ns.register), "function", "namespace:register")
eq(ns.create ~= nil, true, "namespace has create (object service)")
ns:register("ch", ch)
eq(ns:query("ch")() == ch, true, "namespace round trip")
eq(ns:query("absent")(), nil, "absent name is nil")
ns:register("ch", nil)
eq(ns:query("ch")(), nil, "nil unlinks")
raises("Could not resolve: 'rom/none'", function() ns:register("x", "rom/none") end)
ns:register("p", "rom/probe")
eq(ns:query("p")() ~= nil, true, "a string registers a path from L4.Env")

local ds = E.mem_alloc:create(L4.Proto.Dataspace, 4096)
truthy(tostring(ds):find("Dataspace", 1, true), "dataspace tostring: " .. tostring(ds))
eq(ds.query, nil, "a dataspace has no query")
local sem = fab:create(L4.Proto.Semaphore)
truthy(tostring(sem):find("Semaphore", 1, true), "semaphore tostring: " .. tostring(sem))
local gate = fab:create(L4.Proto.Ipc_gate)
eq(L4.cast(L4.Proto.Ipc_gate, gate) ~= nil, true, "Ipc_gate is a channel")
local log = fab:create(L4.Proto.Log, "tag", "g")
truthy(tostring(log):find("Log", 1, true), "log tostring: " .. tostring(log))
local sched = fab:create(L4.Proto.Scheduler, 10, 0, 1)
truthy(tostring(sched):find("Scheduler", 1, true), "scheduler tostring: " .. tostring(sched))

-- Unsupported protocols raise a table {msg, code = -38}.
for _, p in ipairs({ "Vm", "Dma_space", "Iommu", "Sigma0", "Goos", "Rm", "Event", "Inhibitor" }) do
  local ok, err = pcall(fab.create, fab, L4.Proto[p])
  eq(ok, false, "create(" .. p .. ") fails")
  eq(type(err), "table", "create(" .. p .. ") raises a table")
  eq(err.code, -38, "create(" .. p .. ").code")
  eq(type(err.msg), "string", "create(" .. p .. ").msg")
  truthy(err.msg:find("not supported on Linux", 1, true), "msg: " .. tostring(err.msg))
end
-- Without s: refused with an errno-style table.
local err = raises(nil, function() return fab:m("r"):create(L4.Proto.Namespace) end)
eq(type(err), "table", "a create without 's' raises a table")
truthy(type(err.code) == "number" and err.code < 0, "negative code")

-- L4.cast: a typed reference when the type matches, nil otherwise.
eq(L4.cast(L4.Proto.Namespace, ns) == ns, true, "cast to its own type")
eq(L4.cast(L4.Proto.Dataspace, ns), nil, "cast to another type is nil")
eq(L4.cast("L4::Namespace", ns) == ns, true, "cast by name")
eq(L4.cast(L4.Proto.Factory, fab) == fab, true, "cast factory")
eq(L4.cast(L4.Proto.Log, ch), nil, "a channel is no log")
eq(L4.cast(L4.Proto.Dataspace, ds) == ds, true, "cast dataspace")
raises("cast", L4.cast, {}, ns)
raises("cast", L4.cast, L4.Proto.Namespace, "not a cap")

check.done()
