-- ned.supervise: restart policies, backoff, dependency order and ordered
-- stop, written in Lua over ned's primitives (tasks, exit handlers,
-- readiness, timers), so every policy stays readable and changeable.
-- Embedded in ned like L4.lua; `require("ned.supervise")`. The reference is
-- docs/supervise.md.
--
-- The pure parts (checking a spec, the restart decision, the backoff delay,
-- the start order) are module functions, unit-tested in
-- tests/lua/supervise.lua without starting anything.

local L4 = require("L4")

local error, type, pairs, ipairs, tostring, setmetatable = error, type, pairs, ipairs, tostring, setmetatable
local concat, unpack, random, huge = table.concat, table.unpack, math.random, math.huge

local M = {}

local POLICIES = { never = true, ["on-failure"] = true, always = true }

-- Defaults, in milliseconds.
M.defaults = {
  restart = "on-failure",
  backoff = { initial = 100, max = 30000, factor = 2, jitter = 0.1 },
  stable = 10000,
  limit = nil,
  stop_signal = 15,
  stop_timeout = 3000,
}

local KEYS = {
  cmd = true, argv = true, env = true, restart = true, backoff = true, stable = true,
  limit = true, after = true, stop_signal = true, stop_timeout = true, ready = true,
  on_ready = true, on_exit = true, on_give_up = true,
}
local BACKOFF_KEYS = { initial = true, max = true, factor = true, jitter = true }

local function nonneg(v, what)
  if type(v) ~= "number" or not (v >= 0) or v == huge then
    return nil, what .. " must be a finite number >= 0, got " .. tostring(v)
  end
  return v
end

-- Checks one task's spec; returns the spec with defaults filled in, or nil
-- and what is wrong.
function M.check(name, spec)
  if type(name) ~= "string" or name == "" then
    return nil, "task name must be a non-empty string, got " .. tostring(name)
  end
  local function bad(msg) return nil, "task '" .. name .. "': " .. msg end
  if type(spec) ~= "table" then return bad("spec must be a table, got " .. type(spec)) end
  for k in pairs(spec) do
    if not KEYS[k] then return bad("unknown key '" .. tostring(k) .. "'") end
  end
  local s = {}
  if (spec.cmd == nil) == (spec.argv == nil) then
    return bad("exactly one of cmd (a command line) and argv (a list) is needed")
  end
  if spec.cmd ~= nil and type(spec.cmd) ~= "string" then
    return bad("cmd must be a string, got " .. type(spec.cmd))
  end
  if spec.argv ~= nil and (type(spec.argv) ~= "table" or type(spec.argv[1]) ~= "string") then
    return bad("argv must be a list of strings")
  end
  s.cmd, s.argv = spec.cmd, spec.argv
  if spec.env ~= nil and type(spec.env) ~= "table" then
    return bad("env must be a start table, got " .. type(spec.env))
  end
  s.env = spec.env or {}
  s.restart = spec.restart or M.defaults.restart
  if not POLICIES[s.restart] then
    return bad("unknown restart policy '" .. tostring(s.restart) .. "' (never, on-failure or always)")
  end
  local b = spec.backoff or {}
  if type(b) ~= "table" then return bad("backoff must be a table, got " .. type(b)) end
  for k in pairs(b) do
    if not BACKOFF_KEYS[k] then return bad("unknown backoff key '" .. tostring(k) .. "'") end
  end
  local d = M.defaults.backoff
  s.backoff = {}
  for _, k in ipairs({ "initial", "max", "factor", "jitter" }) do
    local v, err = nonneg(b[k] == nil and d[k] or b[k], "backoff." .. k)
    if v == nil then return bad(err) end
    s.backoff[k] = v
  end
  if b.max == nil and s.backoff.initial > s.backoff.max then s.backoff.max = s.backoff.initial end
  if s.backoff.max < s.backoff.initial then
    return bad("backoff.max (" .. s.backoff.max .. ") is below backoff.initial (" .. s.backoff.initial .. ")")
  end
  if s.backoff.factor < 1 then return bad("backoff.factor must be >= 1, got " .. s.backoff.factor) end
  if s.backoff.jitter > 1 then return bad("backoff.jitter must be between 0 and 1, got " .. s.backoff.jitter) end
  local err
  s.stable, err = nonneg(spec.stable == nil and M.defaults.stable or spec.stable, "stable")
  if not s.stable then return bad(err) end
  if spec.limit ~= nil then
    if math.type(spec.limit) ~= "integer" or spec.limit < 0 then
      return bad("limit must be an integer >= 0, got " .. tostring(spec.limit))
    end
  end
  s.limit = spec.limit
  s.stop_signal = spec.stop_signal == nil and M.defaults.stop_signal or spec.stop_signal
  if math.type(s.stop_signal) ~= "integer" or s.stop_signal < 1 or s.stop_signal > 64 then
    return bad("stop_signal must be a signal number (1-64), got " .. tostring(s.stop_signal))
  end
  s.stop_timeout, err = nonneg(spec.stop_timeout == nil and M.defaults.stop_timeout or spec.stop_timeout, "stop_timeout")
  if not s.stop_timeout then return bad(err) end
  s.after = spec.after or {}
  if type(s.after) ~= "table" then return bad("after must be a list of task names") end
  for _, dep in ipairs(s.after) do
    if type(dep) ~= "string" then return bad("after must be a list of task names") end
  end
  -- Ready when READY=1 arrives for a task that notifies, else once started.
  local notifies = s.env.notify == true or s.env.watchdog ~= nil
  s.ready = spec.ready or (notifies and "notify" or "started")
  if s.ready ~= "notify" and s.ready ~= "started" then
    return bad("ready must be 'notify' or 'started', got " .. tostring(s.ready))
  end
  if s.ready == "notify" and not notifies then
    return bad("ready = 'notify' needs notify = true in env")
  end
  for _, k in ipairs({ "on_ready", "on_exit", "on_give_up" }) do
    if spec[k] ~= nil and type(spec[k]) ~= "function" then
      return bad(k .. " must be a function, got " .. type(spec[k]))
    end
    s[k] = spec[k]
  end
  return s
end

-- Whether an exit (code, or the signal that killed it) calls for a restart.
function M.should_restart(policy, code, sig)
  if policy == "always" then return true end
  if policy == "never" then return false end
  return sig ~= nil or code ~= 0
end

-- The delay (ms) before restart number `attempt` (1 for the first): initial
-- times factor^(attempt-1), capped at max, then spread by +-jitter
-- (a fraction) using `r` in [0, 1), and capped again.
function M.delay(b, attempt, r)
  -- factor^(attempt-1) overflows to inf after ~1000 attempts, and 0 * inf
  -- is NaN: no initial delay means none at all.
  if b.initial == 0 then return 0 end
  local d = b.initial * b.factor ^ (attempt - 1)
  if d > b.max then d = b.max end
  d = d * (1 + b.jitter * (2 * r - 1))
  if d > b.max then d = b.max end
  if d < 0 then d = 0 end
  return d
end

-- The start order of `specs` (name -> checked spec): every task after its
-- dependencies, ties by name. Nil and what is wrong on an unknown
-- dependency or a cycle (named in full).
function M.order(specs)
  local names = {}
  for n in pairs(specs) do names[#names + 1] = n end
  table.sort(names)
  for _, n in ipairs(names) do
    for _, dep in ipairs(specs[n].after) do
      if specs[dep] == nil then
        return nil, "task '" .. n .. "' depends on unknown task '" .. dep .. "'"
      end
    end
  end
  local order, mark, path = {}, {}, {}
  local function visit(n)
    if mark[n] == "done" then return true end
    if mark[n] == "on path" then
      local cycle, from = {}, nil
      for i, p in ipairs(path) do if p == n then from = i end end
      for i = from, #path do cycle[#cycle + 1] = path[i] end
      cycle[#cycle + 1] = n
      return nil, "cycle in dependencies: " .. concat(cycle, " -> ")
    end
    mark[n] = "on path"
    path[#path + 1] = n
    local deps = { unpack(specs[n].after) }
    table.sort(deps)
    for _, dep in ipairs(deps) do
      local ok, err = visit(dep)
      if not ok then return nil, err end
    end
    path[#path] = nil
    mark[n] = "done"
    order[#order + 1] = n
    return true
  end
  for _, n in ipairs(names) do
    local ok, err = visit(n)
    if not ok then return nil, err end
  end
  return order
end

-- Supervisors -----------------------------------------------------------

local Sv = {}
Sv.__index = Sv

local function say(msg)
  io.stderr:write("ned.supervise: ", msg, "\n")
end

-- A new supervisor. opts.loader: the loader tasks start with
-- (L4.default_loader).
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #1 to 'new' (table expected, got " .. type(opts) .. ")", 2)
  end
  opts = opts or {}
  return setmetatable({
    loader = opts.loader or L4.default_loader,
    specs = {},
    entries = {},
    order = nil,
    started = false,
    stopping = false,
  }, Sv)
end

-- Adds a task (see M.check for the spec); raises on a bad spec.
function Sv:add(name, spec)
  if self.started then error("add: the supervisor has started already", 2) end
  local s, err = M.check(name, spec)
  if not s then error("ned.supervise: " .. err, 2) end
  if self.specs[name] then error("ned.supervise: task '" .. name .. "' added twice", 2) end
  self.specs[name] = s
  return self
end

local launch

-- Starts the tasks whose dependencies are all ready.
local function start_ready(self)
  for _, n in ipairs(self.order) do
    local e = self.entries[n]
    if e.state == "waiting" then
      local ok = true
      for _, dep in ipairs(e.spec.after) do
        if not self.entries[dep].was_ready then ok = false break end
      end
      if ok then launch(self, e) end
    end
  end
end

local function became_ready(self, e)
  e.state = "ready"
  if e.spec.on_ready then e.spec.on_ready(e.task, e.name) end
  if not e.was_ready then
    e.was_ready = true
    start_ready(self)
  end
end

local function exited(self, e, task, code)
  if e.task ~= task then return end
  local sig = task:signal()
  e.task = nil
  local ran = L4.now() - e.since
  if e.spec.on_exit then e.spec.on_exit(code, sig, e.name) end
  if self.stopping or L4.shutting_down() then
    e.state = "stopped"
    return
  end
  local how = sig and ("signal " .. sig) or ("code " .. tostring(code))
  if not M.should_restart(e.spec.restart, code, sig) then
    e.state = (code == 0 and sig == nil) and "done" or "failed"
    if e.state == "failed" then say("'" .. e.name .. "' exited with " .. how .. "; restart = " .. e.spec.restart) end
    return
  end
  if ran >= e.spec.stable then e.attempt = 0 end
  e.attempt = e.attempt + 1
  if e.spec.limit and e.attempt > e.spec.limit then
    e.state = "failed"
    say("'" .. e.name .. "' exited with " .. how .. " " .. e.attempt .. " times in a row; "
      .. "giving up (restart limit " .. e.spec.limit .. ")")
    if e.spec.on_give_up then e.spec.on_give_up(e.name, code, sig) end
    return
  end
  local d = M.delay(e.spec.backoff, e.attempt, random())
  e.state = "backoff"
  if d == 0 then
    launch(self, e)
  else
    e.timer = L4.timer(d, function()
      e.timer = nil
      if not self.stopping then launch(self, e) end
    end)
  end
end

launch = function(self, e)
  local s = e.spec
  local env = {}
  for k, v in pairs(s.env) do env[k] = v end
  -- The task's name tags its log and names it on the timeline.
  if env.log == nil then env.log = { e.name } end
  local ok, task
  if s.cmd then
    ok, task = pcall(self.loader.start, self.loader, env, s.cmd)
  else
    ok, task = pcall(self.loader.startv, self.loader, env, unpack(s.argv))
  end
  if not ok then
    e.state = "failed"
    if not L4.shutting_down() then say("'" .. e.name .. "' could not start: " .. tostring(task)) end
    return
  end
  e.task, e.since, e.state = task, L4.now(), "running"
  e.starts = e.starts + 1
  task:exit_handler(function(code) exited(self, e, task, code) end)
  if s.ready == "started" then
    became_ready(self, e)
  else
    task:on_ready(function() if e.task == task then became_ready(self, e) end end)
  end
end

-- Checks the whole set (unknown dependencies, cycles) and starts the tasks
-- without dependencies; the others follow as their dependencies become
-- ready. Nothing starts when the set is wrong.
function Sv:start()
  if self.started then error("start: the supervisor has started already", 2) end
  local order, err = M.order(self.specs)
  if not order then error("ned.supervise: " .. err, 2) end
  self.order, self.started = order, true
  for _, n in ipairs(order) do
    self.entries[n] = {
      name = n, spec = self.specs[n], state = "waiting", attempt = 0, starts = 0,
      was_ready = false,
    }
  end
  start_ready(self)
  return self
end

-- Stops every task in reverse start order: its stop signal to its whole
-- tree, up to its stop timeout for it to exit, then SIGKILL to the whole
-- tree (a grandchild that left the process group included). Blocks until
-- all are gone.
function Sv:stop()
  if not self.started then return end
  self.stopping = true
  for i = #self.order, 1, -1 do
    local e = self.entries[self.order[i]]
    if e.timer then e.timer:cancel() e.timer = nil end
    local task = e.task
    if task and task:state() == "running" then
      -- The stop signal goes to the task's whole tree (its process group
      -- and descendants), as systemd's KillMode=control-group does.
      pcall(task.kill_tree, task, e.spec.stop_signal)
      local _, why = task:wait(e.spec.stop_timeout)
      if why == "timeout" then
        say("'" .. e.name .. "' did not stop within " .. e.spec.stop_timeout .. " ms of signal "
          .. e.spec.stop_signal .. "; killing its tree")
        task:kill_tree(9)
        task:wait()
      end
    end
    e.task = nil
    e.state = "stopped"
  end
end

-- The state of a task: waiting, running, ready, backoff, done, failed,
-- stopped.
function Sv:state(name) local e = self.entries[name]; return e and e.state end
-- Its current Task object, if running.
function Sv:task(name) local e = self.entries[name]; return e and e.task end
-- How many times it was started.
function Sv:starts(name) local e = self.entries[name]; return e and e.starts end

return M
