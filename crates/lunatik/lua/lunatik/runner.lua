-- lunatik.runner: upstream Lunatik's script manager, over lunatik._ENV.
-- Running scripts are kept by name in two rcu tables of _ENV, `runtimes`
-- and `threads`, so every state of the process (the boot script, any
-- runtime, the prompt, the `lunatik` command) sees and manages the same
-- set. A name is the script's path under the Lua root, without ".lua".
--
--   runner.run(script [, context])   a runtime ("process"/"softirq"/bool)
--   runner.spawn(script [, context]) run it, then its body on a thread
--   runner.stop(script)              stop its thread, then its runtime
--   runner.list()                    "a, b, c": every running script
--   runner.shutdown()                stop them all
--   runner.startup()                 make the tables (done on require)
--
-- Unlike upstream there are no per-CPU runtimes: asking for one is an
-- error, not a silent fallback.
local lunatik = require("lunatik")
local thread = require("thread")
local rcu = require("rcu")

local env = lunatik._ENV
local runner = {}

local function name_of(script)
  if type(script) ~= "string" or script == "" then
    error("script name expected, got " .. type(script), 3)
  end
  return (script:gsub("%.lua$", ""))
end

local function table_in_env(key)
  local t = env[key]
  if t == nil then
    t = rcu.table()
    env[key] = t
  elseif type(t) ~= "userdata" then
    error("lunatik._ENV." .. key .. " is not an rcu table", 3)
  end
  return t
end

function runner.startup()
  runner.runtimes = table_in_env("runtimes")
  runner.threads = table_in_env("threads")
end

function runner.run(script, context, percpu)
  if percpu then error("per-CPU runtimes are not supported", 2) end
  local name = name_of(script)
  if runner.runtimes[name] then error(name .. " is already running", 2) end
  local rt = lunatik.runtime(name, context)
  runner.runtimes[name] = rt
  return rt
end

function runner.spawn(script, context, percpu)
  if percpu then error("spawn does not support per-CPU scripts", 2) end
  local name = name_of(script)
  local rt = runner.run(name, context)
  local ok, t = pcall(thread.run, rt, name:match("[^/]*$"))
  if not ok then
    runner.runtimes[name] = nil
    rt:stop()
    error(t, 2)
  end
  runner.threads[name] = t
  return t
end

local function stop_in(registry, name)
  local item = registry[name]
  if item then
    registry[name] = nil
    item:stop()
  end
end

function runner.stop(script)
  local name = name_of(script)
  stop_in(runner.threads, name)
  stop_in(runner.runtimes, name)
end

local function names()
  local list = {}
  rcu.map(runner.runtimes, function(name) list[#list + 1] = name end)
  table.sort(list)
  return list
end

function runner.list()
  return table.concat(names(), ", ")
end

function runner.shutdown()
  for _, name in ipairs(names()) do runner.stop(name) end
end

runner.startup()
return runner
