-- Issue 7 point 8: an error raised by an L4 function names the script's own
-- file and line, never a line of ned's L4.lua (not even a VM error such as
-- "attempt to index a number value" from misuse), and numbers the arguments
-- as the script wrote them. Each row calls `here()` and makes the bad call on
-- the same line, so the two positions must be the same; rows that go
-- through `pcall(method, ...)` directly (a C frame in between) too. The
-- calls are in parentheses: a tail call (`return f()`) drops the caller's
-- frame, and Lua itself then names the line that called that caller.
local check = require("check")
local L4 = require("L4")
local E, ld = L4.Env, L4.default_loader

-- "<chunk>:<line>: " of the line that calls here(), as Lua prints it.
local function here()
  local _, pos = pcall(error, "", 3)
  return pos
end

local live = ld:start({ log = { "sleeper" } }, "rom/probe --sleep 30")
local ns = E.factory:create(L4.Proto.Namespace)
local with_handler = ld:start({ log = { "quick" } }, "rom/probe --sleep 30")
with_handler:exit_handler(function() end)

local rows = {
  { here(), "bad argument #1 to 'kill' (invalid signal 999)", function() return (live:kill(999)) end },
  { here(), "bad argument #1 to 'kill' (number has no integer representation)", function() return (live:kill(1.5)) end },
  { here(), "bad argument #1 to 'kill' (number expected, got string)", function() return (live:kill("x")) end },
  { here(), "bad argument #1 to 'exit_handler'", function() return (live:exit_handler(1)) end },
  { here(), "exit_handler callback already registered", function() return (with_handler:exit_handler(print)) end },
  { here(), "is not supported on Linux", function() return (E.rm:attach()) end },
  { here(), "calling 'start' on bad self", function() return (L4.Loader.start(1, {}, "rom/probe")) end },
  { here(), "bad argument #1 to 'startv'", function() return (ld:startv(nil, "rom/probe")) end },
  { here(), "could not create process: rom/missing: no file 'missing' in /", function() return (ld:start({}, "rom/missing")) end },
  { here(), "boom in cap function", function() return (ld:start({ caps = { f = function() error("boom in cap function") end } }, "rom/probe")) end },
  { here(), "Could not resolve: 'nope/x'", function() return (ns:register("a", "nope/x")) end },
  { here(), "bad argument #2 to 'register'", function() return (ns:register("a", { b = { c = 1 } })) end },
  { here(), "bad argument #1 to 'register'", function() return (ns:register(1, {})) end },
  { here(), "bad argument #1 to 'query'", function() return (E.rom:query(1)) end },
  { here(), "bad argument #1 to 'Cpu_set.new'", function() return (ld:create_sched_proxy({ cpus = "1-x" })) end },
  { here(), "bad argument #1 to 'create_sched_proxy'", function() return (ld:create_sched_proxy(1)) end },
  { here(), "bad argument #1 to 'create_namespace'", function() return (ld:create_namespace(1)) end },
  { here(), "bad argument #2 to 'register'", function() return (ld:create_namespace({ x = 1 })) end },
  { here(), "bad argument #1 to 'App_env.new'", function() return (L4.App_env.new(1)) end },
  { here(), "bad argument #1 to 'Loader.new'", function() return (L4.Loader.new(1)) end },
  { here(), "bad argument", function() return (E.factory:create("nonsense")) end },
  { here(), "bad argument", function() return (L4.cast(nil, E.log)) end },
  { here(), "bad argument", function() return (E.log:mode({})) end },
  { here(), "bad argument", function() return (E.rom:query("probe", {})) end },
  -- Misuse that used to fail inside L4.lua with a VM error.
  { here(), "bad argument #2 to 'create_namespace' (factory expected", function() return (ld:create_namespace({}, {})) end },
  { here(), "calling 'create_namespace' on bad self", function() return (ld.create_namespace(5, {})) end },
  { here(), "bad field 'ns_fab' of the loader", function() return (L4.Loader.new({ ns_fab = 5 }):create_namespace({})) end },
  { here(), "bad field 'sched_fab' of the loader", function() return (L4.Loader.new({ sched_fab = {} }):create_sched_proxy({})) end },
  { here(), "calling 'create_sched_proxy' on bad self", function() return (ld.create_sched_proxy(5, {})) end },
  { here(), "prio_limit and prio_offset must be numbers", function() return (ld:create_sched_proxy({ prio_limit = "x" })) end },
  { here(), "bad argument #3 to 'register' (factory expected", function() return (ns:register("a", { b = {} }, 5)) end },
  { here(), "calling 'query' on bad self", function() return (E.rom.query(5, "x")) end },
  { here(), "default_caps must be a table", function() return (L4.Loader.new({ default_caps = 5 }):start({}, "rom/probe")) end },
  { here(), "attempt to perform '|' on a number value", function() return (L4.Cpu_set.new(1) | 5) end },
  { here(), "attempt to perform '&' on a table value", function() return (L4.Cpu_set.new(1) & {}) end },
  { here(), "attempt to perform 'words'", function() return (L4.Cpu_set.words(5)) end },
}

local failures = {}
for i, row in ipairs(rows) do
  local pos, want, f = row[1], row[2], row[3]
  local ok, err = pcall(f)
  local text = type(err) == "table" and tostring(err.msg) or tostring(err)
  if ok then
    failures[#failures + 1] = i .. ": no error"
  elseif text:find("L4.lua:", 1, true) then
    failures[#failures + 1] = i .. ": names L4.lua: " .. text
  elseif type(err) == "string" and text:sub(1, #pos) ~= pos then
    failures[#failures + 1] = i .. ": not at " .. pos .. ": " .. text
  elseif not text:find(want, 1, true) then
    failures[#failures + 1] = i .. ": lacks " .. want .. ": " .. text
  end
end

if #failures > 0 then
  error(#failures .. " of " .. #rows .. " errors are not at the script's line:\n  " .. table.concat(failures, "\n  "))
end
-- Through pcall(method, ...) the nearest script line is the pcall's.
local pos, ok, err = here(), pcall(live.kill, live, 999)
check.eq(ok, false, "pcall(live.kill, live, 999)")
check.eq(err, pos .. "bad argument #1 to 'kill' (invalid signal 999)", "position through pcall")

check.eq(live:kill(), "killed", "the sleeper is still there")
check.eq(with_handler:kill(), "killed", "the other one too")
print("error sites: " .. #rows)
check.done()
