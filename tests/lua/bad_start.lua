-- Issue 3 "Bad input": every malformed start table is a Lua error with a
-- clear message; ned keeps running and loses no task (a task started
-- before keeps running, and its exit handler still fires: the Rust side
-- checks `survivor exited 0`).
local check = require("check")
local eq, raises = check.eq, check.raises
local L4 = require("L4")
local ld = L4.default_loader

local survivor = ld:start({ log = { "survivor" } }, "rom/probe --sleep 1")
survivor:exit_handler(function(c) print("survivor exited " .. tostring(c)) end)

local cyc = {}
cyc.self = cyc
local deep = {}
do
  local t = deep
  for _ = 1, 200 do t.x = {}; t = t.x end
end
local ch = ld:new_channel()
local huge = {}
for i = 1, 300000 do huge[i] = "argument-" .. i end

local cases = {
  { "caps must be a table", function() return ld:start({ caps = 5 }, "rom/probe") end },
  { "capability names must be strings", function() return ld:start({ caps = { [1] = ch } }, "rom/probe") end },
  { "capability names must be strings", function() return ld:start({ caps = { [true] = ch } }, "rom/probe") end },
  { "too long", function() return ld:start({ caps = { ["abcdefghijklmnopq"] = ch } }, "rom/probe") end },
  { "invalid", function() return ld:start({ caps = { ["a:b"] = ch } }, "rom/probe") end },
  { "invalid", function() return ld:start({ caps = { ["a\0b"] = ch } }, "rom/probe") end },
  { "invalid", function() return ld:start({ caps = { [""] = ch } }, "rom/probe") end },
  { "cycle", function() return ld:start({ caps = { ns = cyc } }, "rom/probe") end },
  { "nested too deeply", function() return ld:start({ caps = { ns = deep } }, "rom/probe") end },
  { "boom in cap function", function()
      return ld:start({ caps = { f = function() error("boom in cap function") end } }, "rom/probe")
    end },
  { "is not a capability", function() return ld:start({ caps = { u = io.stdout } }, "rom/probe") end },
  { "tasks cannot be passed to tasks", function() return ld:start({ caps = { t = survivor } }, "rom/probe") end },
  { "not a capability or a plain table", function()
      return ld:start({ caps = { cpus = L4.Cpu_set.new(1) } }, "rom/probe")
    end },
  { "capability 'co' is invalid, got thread", function()
      return ld:start({ caps = { co = coroutine.create(print) } }, "rom/probe")
    end },
  { "log must be", function() return ld:start({ log = 5 }, "rom/probe") end },
  { "log must be a log capability", function() return ld:start({ log = ch }, "rom/probe") end },
  { "log tag must be a string", function() return ld:start({ log = { {} } }, "rom/probe") end },
  { "l4re_dbg must be a number", function() return ld:start({ l4re_dbg = "x" }, "rom/probe") end },
  { "scheduler must be a scheduler", function() return ld:start({ scheduler = ch }, "rom/probe") end },
  { "table expected", function() return ld:start(nil, "rom/probe") end },
  { "string expected", function() return ld:start({}, nil) end },
  { "string expected", function() return ld:start({}, {}) end },
  { "empty command", function() return ld:start({}, "   ") end },
  { "table expected", function() return ld:start({}, "rom/probe", 5) end },
  { "environment keys must be strings", function() return ld:start({}, "rom/probe", { "x" }) end },
  { "environment keys must be strings", function() return ld:start({}, "rom/probe", { [2.5] = "x" }) end },
  { "environment value of 'K' must be a string", function() return ld:start({}, "rom/probe", { K = {} }) end },
  { "invalid environment entry", function() return ld:start({}, "rom/probe", { ["A=B"] = "x" }) end },
  { "invalid environment entry", function() return ld:start({}, "rom/probe", { A = "x\0y" }) end },
  { "invalid environment entry", function() return ld:start({}, "rom/probe", { [""] = "x" }) end },
  { "string expected, got boolean", function() return ld:startv({}, "rom/probe", true) end },
  { "string expected, got table", function() return ld:startv({}, "rom/probe", "a", {}, "b") end },
  { "NUL", function() return ld:startv({}, "rom/probe", "a\0b") end },
  { "could not create process", function() return ld:startv({}, "rom/probe", table.unpack(huge, 1, 200000)) end },
  { "could not create process", function() return ld:start({}, "rom/probe " .. table.concat(huge, " ")) end },
  { "could not create process", function() return ld:startv({}, "rom/probe", string.rep("y", 300000)) end },
  { "could not create process", function() return ld:start({}, "rom/missing") end },
  { "could not create process", function() return ld:start({ caps = { rom = {} } }, "rom/probe") end },
}

for i, c in ipairs(cases) do
  local err = raises(c[1], c[2])
  eq(type(err), "string", "case " .. i .. " raises a string")
end

-- The message points at the script's line that called start, and names
-- the function and argument as Lua's own errors do.
local _, err = pcall(function()
  local t = ld:start({ caps = 5 }, "rom/probe")
  return t
end)
check.truthy(err:find("bad_start.lua:%d+: bad argument #1 to 'start' %(caps must be a table, got number%)"),
  "located message: " .. err)
_, err = pcall(function()
  local t = ld:startv({}, "rom/probe", true)
  return t
end)
check.truthy(err:find("bad_start.lua:%d+: bad argument #3 to 'startv'"), "located startv message: " .. err)

-- The caller's caps table is untouched by a failing start.
local caps = { ns = { a = ch }, bad = cyc }
raises("cycle", function() return ld:start({ caps = caps }, "rom/probe") end)
eq(type(caps.ns), "table", "a failed start did not rewrite the caller's table")

eq(survivor:state(), "running", "the task started before is still running")
-- ned still starts tasks after all that.
eq(ld:start({ log = { "after" } }, "rom/probe --exit 4"):wait(), 4, "a start after the errors works")
check.done()
