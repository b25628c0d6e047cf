-- Issue 2 point 6: every public L4 function and method, fed wrong types,
-- nil, huge numbers and very long strings, raises a Lua error (a string or
-- an upstream-style error table, never a crash, a panic or a Rust error
-- object). The Rust runner then checks that ned exits normally.
local check = require("check")
local L4 = require("L4")
local E, ld = L4.Env, L4.default_loader

local LONG = string.rep("x", 10 * 1024 * 1024)
local V = {
  ["nil"] = nil, ["true"] = true, ["{}"] = {}, fn = function() end,
  co = coroutine.create(function() end),
  maxint = math.maxinteger, minint = math.mininteger, ["1e308"] = 1e308,
  ["-1e308"] = -1e308, nan = 0 / 0, inf = math.huge, ["-1"] = -1,
  long = LONG, nul = "a\0b", str = "bogus",
  chan = ld:new_channel(), loader = ld, sock = L4.socket({ tcp = "127.0.0.1:0" }),
}
local ALL_NON_STRING = { "nil", "true", "{}", "fn", "co", "maxint", "nan", "1e308", "chan" }

-- Every row: name, a function taking the bad value, and the value classes
-- that must make it raise.
local rows = {
  { "L4.cast #1", function(v) return L4.cast(v, V.chan) end,
    { "nil", "true", "{}", "fn", "co", "maxint", "minint", "1e308", "nan", "inf", "-1", "long", "nul", "str", "chan" } },
  { "L4.cast #2", function(v) return L4.cast(L4.Proto.Ipc_gate, v) end,
    { "nil", "true", "{}", "fn", "co", "maxint", "1e308", "nan", "long", "loader" } },
  { "Loader.new", function(v) return L4.Loader.new(v) end,
    { "true", "fn", "co", "maxint", "1e308", "nan", "long", "chan" } },
  { "Loader.new{default_caps}", function(v)
      return L4.Loader.new({ default_caps = v }):start({}, "rom/probe")
    end, { "true", "fn", "maxint", "long", "chan" } },
  { "new_channel self", function(v) return ld.new_channel(v) end,
    { "nil", "true", "{}", "maxint", "long", "chan" } },
  { "start self", function(v) return ld.start(v, {}, "rom/probe") end,
    { "nil", "true", "{}", "fn", "maxint", "long", "chan" } },
  { "start env", function(v) return ld:start(v, "rom/probe") end,
    { "nil", "true", "fn", "co", "maxint", "minint", "1e308", "nan", "long", "chan" } },
  { "start cmd", function(v) return ld:start({}, v) end,
    { "nil", "true", "{}", "fn", "co", "maxint", "minint", "1e308", "nan", "long", "nul", "str", "chan" } },
  { "start posix env", function(v) return ld:start({}, "rom/probe", v) end,
    { "true", "fn", "co", "maxint", "1e308", "nan", "long", "chan" } },
  { "start posix env key", function(v) return ld:start({}, "rom/probe", { [v] = "x" }) end,
    { "true", "{}", "fn", "maxint", "1e308", "chan", "nul", "long" } },
  { "start posix env value", function(v) return ld:start({}, "rom/probe", { K = v }) end,
    { "true", "{}", "fn", "co", "chan", "nul", "long" } },
  { "start caps", function(v) return ld:start({ caps = v }, "rom/probe") end,
    { "true", "fn", "maxint", "1e308", "nan", "long", "chan" } },
  { "start caps name", function(v) return ld:start({ caps = { [v] = V.chan } }, "rom/probe") end,
    { "true", "{}", "fn", "maxint", "1e308", "chan", "nul", "long" } },
  { "start caps value", function(v) return ld:start({ caps = { x = v } }, "rom/probe") end,
    { "co" } },
  { "start log", function(v) return ld:start({ log = v }, "rom/probe") end,
    { "true", "co", "maxint", "1e308", "nan", "long", "chan" } },
  { "start log tag", function(v) return ld:start({ log = { v } }, "rom/probe") end,
    { "true", "{}", "fn", "co", "maxint", "long", "chan", "nul" } },
  -- An unknown colour (a string or number) is the default one (spec §9).
  { "start log color", function(v) return ld:start({ log = { "t", v } }, "rom/probe") end,
    { "true", "{}", "fn", "co", "chan" } },
  { "start l4re_dbg", function(v) return ld:start({ l4re_dbg = v }, "rom/probe") end,
    { "true", "{}", "fn", "co", "1e308", "nan", "long", "chan", "str" } },
  { "start scheduler", function(v) return ld:start({ scheduler = v }, "rom/probe") end,
    { "true", "{}", "fn", "maxint", "long", "chan", "str" } },
  { "startv cmd", function(v) return ld:startv({}, v) end,
    { "nil", "true", "{}", "fn", "co", "maxint", "1e308", "nan", "long", "nul", "str", "chan" } },
  { "startv arg", function(v) return ld:startv({}, "rom/probe", v, "x") end,
    { "true", "{}", "fn", "co", "chan", "nul" } },
  { "startv self", function(v) return ld.startv(v, {}, "rom/probe") end,
    { "nil", "true", "{}", "maxint", "long", "chan" } },
  { "create_namespace tbl", function(v) return ld:create_namespace(v) end,
    { "nil", "true", "fn", "maxint", "1e308", "nan", "long", "chan" } },
  { "create_namespace entry", function(v) return ld:create_namespace({ x = v }) end,
    { "true", "maxint", "1e308", "nan", "long", "str" } },
  { "create_namespace fab", function(v) return ld:create_namespace({}, v) end,
    { "true", "{}", "fn", "maxint", "long", "chan" } },
  { "create_sched_proxy", function(v) return ld:create_sched_proxy(v) end,
    { "nil", "true", "fn", "maxint", "1e308", "nan", "long", "chan" } },
  { "create_sched_proxy cpus", function(v) return ld:create_sched_proxy({ cpus = v }) end,
    { "true", "fn", "maxint", "minint", "1e308", "-1e308", "nan", "inf", "-1", "long", "str", "chan" } },
  { "create_sched_proxy prio_limit", function(v) return ld:create_sched_proxy({ prio_limit = v }) end,
    { "true", "{}", "fn", "maxint", "minint", "1e308", "nan", "-1", "long", "str", "chan" } },
  { "create_sched_proxy prio_offset", function(v) return ld:create_sched_proxy({ prio_offset = v }) end,
    { "true", "{}", "fn", "maxint", "minint", "1e308", "nan", "-1", "long", "str", "chan" } },
  { "Cpu_set.new", function(v) return L4.Cpu_set.new(v) end,
    { "true", "fn", "co", "maxint", "minint", "1e308", "nan", "inf", "-1", "long", "nul", "str", "chan" } },
  { "Cpu_set.new list", function(v) return L4.Cpu_set.new({ v }) end,
    { "true", "{}", "fn", "maxint", "minint", "1e308", "nan", "-1", "long", "str", "chan" } },
  { "App_env.new", function(v) return L4.App_env.new(v) end,
    { "true", "fn", "maxint", "long", "chan" } },
  -- Capability methods.
  { "mode", function(v) return V.chan:mode(v) end,
    { "true", "{}", "fn", "co", "maxint", "minint", "1e308", "-1e308", "nan", "inf", "-1", "chan" } },
  { "m", function(v) return V.chan:m(v) end, { "true", "{}", "maxint", "nan", "-1" } },
  { "rights", function(v) return V.chan:rights(v) end, { "true", "{}", "maxint", "nan", "-1" } },
  { "mode self", function(v) return V.chan.mode(v, "rw") end,
    { "nil", "true", "{}", "maxint", "long", "loader" } },
  { "svr self", function(v) return V.chan.svr(v) end, { "nil", "true", "{}", "maxint", "long", "loader" } },
  { "is_valid self", function(v) return V.chan.is_valid(v) end, { "nil", "true", "{}", "maxint", "long" } },
  { "rom:query name", function(v) return E.rom:query(v)() end,
    { "nil", "true", "{}", "fn", "maxint", "1e308", "chan", "long" } },
  { "rom:query rights", function(v) return E.rom:query("probe", v)() end,
    { "true", "{}", "fn", "maxint", "nan", "-1", "chan" } },
  { "rom:query self", function(v) return E.rom.query(v, "probe")() end,
    { "nil", "true", "{}", "maxint", "long", "chan" } },
  { "ns:query name", function(v)
      return E.factory:create(L4.Proto.Namespace):query(v)()
    end, { "nil", "true", "{}", "fn", "maxint", "chan" } },
  { "ns:register name", function(v)
      return E.factory:create(L4.Proto.Namespace):register(v, V.chan)
    end, { "nil", "true", "{}", "fn", "maxint", "1e308", "chan", "nul", "long" } },
  { "ns:register value", function(v)
      return E.factory:create(L4.Proto.Namespace):register("x", v)
    end, { "true", "maxint", "1e308", "nan", "long", "str", "nul" } },
  { "create proto", function(v) return E.factory:create(v) end,
    { "nil", "true", "{}", "fn", "co", "maxint", "minint", "1e308", "nan", "inf", "-1", "long", "str", "chan" } },
  { "create self", function(v) return E.factory.create(v, L4.Proto.Namespace) end,
    { "nil", "true", "{}", "maxint", "long", "loader" } },
  { "create Dataspace size", function(v) return E.mem_alloc:create(L4.Proto.Dataspace, v) end,
    { "nil", "true", "{}", "fn", "maxint", "minint", "1e308", "nan", "inf", "-1", "long", "str", "chan" } },
  { "create Dataspace flags", function(v) return E.mem_alloc:create(L4.Proto.Dataspace, 4096, v) end,
    { "true", "{}", "maxint", "minint", "1e308", "nan", "-1", "long", "str" } },
  { "create Log tag", function(v) return E.factory:create(L4.Proto.Log, v) end,
    { "true", "{}", "fn", "chan", "long", "nul" } },
  { "create Log color", function(v) return E.factory:create(L4.Proto.Log, "t", v) end,
    { "true", "{}", "fn", "chan" } },
  { "create Scheduler", function(v) return E.factory:create(L4.Proto.Scheduler, v) end,
    { "true", "{}", "fn", "maxint", "minint", "1e308", "nan", "-1", "long", "str", "chan" } },
  { "create Scheduler cpu word", function(v) return E.factory:create(L4.Proto.Scheduler, 1, 0, v) end,
    { "true", "{}", "fn", "1e308", "nan", "long", "str", "chan" } },
  { "create Factory quota", function(v) return E.factory:create(L4.Proto.Factory, v) end,
    { "true", "{}", "fn", "minint", "1e308", "nan", "-1", "long", "str", "chan" } },
  { "L4.socket", function(v) return L4.socket(v) end,
    { "nil", "true", "fn", "co", "maxint", "1e308", "nan", "long", "nul", "str", "chan", "sock", "loader" } },
  { "L4.socket tcp", function(v) return L4.socket({ tcp = v }) end,
    { "true", "{}", "fn", "co", "maxint", "minint", "1e308", "nan", "inf", "-1", "long", "nul", "str", "chan", "loader" } },
  { "L4.socket unix", function(v) return L4.socket({ unix = v }) end,
    { "true", "{}", "fn", "maxint", "long", "nul", "str", "chan" } },
  { "L4.socket mode", function(v) return L4.socket({ unix = "@ned-bad-input", mode = v }) end,
    { "true", "{}", "fn", "maxint", "long", "nul", "str", "chan" } },
  { "L4.socket type", function(v) return L4.socket({ unix = "@ned-bad-input", type = v }) end,
    { "true", "{}", "fn", "maxint", "long", "nul", "str", "chan" } },
  { "L4.socket backlog", function(v) return L4.socket({ tcp = "127.0.0.1:0", backlog = v }) end,
    { "true", "{}", "fn", "co", "maxint", "minint", "1e308", "nan", "inf", "-1", "long", "str", "chan" } },
  { "L4.socket reuseaddr", function(v) return L4.socket({ tcp = "127.0.0.1:0", reuseaddr = v }) end,
    { "{}", "fn", "maxint", "long", "str", "chan" } },
  { "sock:address self", function(v) return V.sock.address(v) end,
    { "nil", "true", "{}", "maxint", "long", "chan", "loader" } },
  { "sock:protocol self", function(v) return V.sock.protocol(v) end,
    { "nil", "true", "{}", "maxint", "long", "chan", "loader" } },
  { "sock:listening self", function(v) return V.sock.listening(v) end,
    { "nil", "true", "{}", "maxint", "long", "chan", "loader" } },
  { "rm method", function(v) return E.rm:attach(v) end, ALL_NON_STRING },
  { "parent method", function(v) return E.parent:signal(v) end, ALL_NON_STRING },
}

-- Task methods, on a live task and on a reaped one.
local live = ld:start({ log = { "sleeper" } }, "rom/probe --sleep 30")
local done = ld:start({ log = { "quick" } }, "rom/probe")
done:wait()
for _, t in ipairs({ { "live", live }, { "reaped", done } }) do
  local name, task = t[1], t[2]
  rows[#rows + 1] = { name .. " task:kill(sig)", function(v) return task:kill(v) end,
    name == "live" and { "true", "{}", "fn", "maxint", "minint", "1e308", "nan", "-1", "long", "str", "chan" }
      or { "true", "{}", "fn", "long", "str", "chan" } }
  rows[#rows + 1] = { name .. " task:exit_handler", function(v) return task:exit_handler(v) end,
    { "nil", "true", "{}", "maxint", "long", "str", "chan" } }
  for _, m in ipairs({ "state", "exit_code", "wait", "kill", "exit_handler", "signal", "pid" }) do
    rows[#rows + 1] = { name .. " task." .. m .. " self", function(v) return task[m](v) end,
      { "nil", "true", "{}", "maxint", "long", "chan" } }
  end
end

local failures, count = {}, 0
for _, row in ipairs(rows) do
  local name, f, bad = row[1], row[2], row[3]
  for _, class in ipairs(bad) do
    count = count + 1
    local ok, err = pcall(f, V[class])
    if ok then
      failures[#failures + 1] = name .. " with " .. class .. ": no error"
    elseif type(err) ~= "string" and not (type(err) == "table" and type(err.msg) == "string") then
      failures[#failures + 1] = name .. " with " .. class .. ": error is a " .. type(err) .. ": " .. tostring(err)
    elseif tostring(type(err) == "table" and err.msg or err):find("panick", 1, true) then
      failures[#failures + 1] = name .. " with " .. class .. ": " .. tostring(err)
    end
  end
end
if #failures > 0 then
  error(#failures .. " of " .. count .. " bad calls were accepted:\n  " .. table.concat(failures, "\n  "))
end

-- ned still works: the live task is still there and can be stopped.
check.eq(live:state(), "running", "the sleeper survived the bad calls")
check.eq(live:kill(), "killed", "and can be killed")
print("bad calls: " .. count)
check.done()
