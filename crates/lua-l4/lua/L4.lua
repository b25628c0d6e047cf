-- The Lua half of ned's L4 package (the counterpart of upstream's ned.lua).
--
-- It receives the natives of crates/lua-l4 as its only argument and builds
-- the package scripts see: constants, capability methods, L4.Env, the Loader,
-- Task objects, Cpu_set and App_env. Natives answer `true, ...` or
-- `false, err`; `lift` turns the latter into a Lua error raised at the
-- script's own line.
--
-- Every error this file raises goes through `raise`, which places it at the
-- first caller outside this file (core.script_level): a fixed `error(msg, 2)`
-- would name a line of L4.lua whenever one function here calls another.

local core = ...

local error, setmetatable, getmetatable, type, tostring = error, setmetatable, getmetatable, type, tostring
local pairs, ipairs, pcall, tonumber = pairs, ipairs, pcall, tonumber
local concat, sort = table.concat, table.sort
local tointeger = math.tointeger

local script_level = core.script_level

local function raise(err)
  local _, level = script_level()
  error(err, level)
end

local function pass(ok, ...)
  if ok then return ... end
  raise((...))
end

local function lift(f)
  return function(...) return pass(f(...)) end
end

local L4 = {}

L4.Proto = {
  Dataspace = 0x4000, Namespace = 0x4001, Goos = 0x4003, Mem_alloc = 0x4004,
  Rm = 0x4005, Event = 0x4006, Inhibitor = 0x4007, Sigma0 = -6, Log = -13,
  Scheduler = -14, Factory = -15, Vm = -16, Dma_space = -17, Irq_sender = -18,
  Semaphore = -20, Iommu = -22, Ipc_gate = 0,
}
L4.Rights = { w = 1, s = 2, r = 4, d = 8, n = 16, c = 32, ro = 4, rw = 5, rws = 7 }
L4.Ldr_flags = { eager_map = 1, all_segs_cow = 2, pinned_segs = 4 }
L4.Mem_alloc_flags = { Continuous = 1, Pinned = 2, Super_pages = 4 }
L4.Dbg = {
  Info = 1, Warn = 2, Boot = 4, Server = 0x10, Exceptions = 0x20,
  Cmd_line = 0x40, Loader = 0x80, Name_space = 0x400, All = 0xffffffff,
}
L4.Info = {
  arch = lift(core.arch),
  platform = lift(core.platform),
  mword_bits = lift(core.mword_bits),
  Kip = { str = lift(core.kip_str) },
}

L4.cast = lift(core.cast)
-- A Linux extra: true once ned is shutting down (a signal, os.exit, or the
-- end under --exit/--wait-and-exit); start() then refuses.
L4.shutting_down = lift(core.shutting_down)
L4.socket = lift(core.socket)
-- L4.server_loop(channel): serves ned's command protocol (ned-prompt) on
-- the channel and runs ned's loop until ned shuts down (docs/prompt.md).
L4.server_loop = lift(core.server_loop)
-- Lunatik hooks on ned's loop (docs/lunatik.md "Hooks"): a non-sleepable
-- runtime sees every task line; L4.unhook(id) removes it.
L4.log_hook = lift(core.log_hook)
L4.unhook = lift(core.unhook)
-- rt's body resumed every ms milliseconds on ned's loop (an L4.every
-- timer): an error or a blown budget cancels it, with a logged line.
function L4.timer_hook(rt, ms)
  local t
  t = L4.every(ms, function()
    local ok, err = pcall(rt.resume, rt)
    if not ok then
      t:cancel()
      io.stderr:write("ned: timer hook removed: " .. tostring(err) .. "\n")
    end
  end)
  return t
end

-- L4.sleep(s) and L4.msleep(ms), as upstream (spec §15): nothing at all
-- for a missing, nil, non-number or non-positive argument (NaN included);
-- else the message on ned's console, then ned's loop turns for that long
-- (logs flow, exits are recorded, no handler runs; a signal ends it).
local function sleeper(unit, per_second)
  return function(t)
    if type(t) ~= "number" or not (t > 0) then return end
    pass(core.sleep(t / per_second, "Ned: Sleeping " .. t .. unit))
  end
end
L4.sleep = sleeper("s", 1)
L4.msleep = sleeper("ms", 1000)

-- Capability methods, by type. `*` holds the methods every cap has.
local mode = lift(core.mode)
local methods = core.methods
methods["*"] = {
  mode = mode, m = mode, rights = mode,
  svr = lift(core.svr),
  is_valid = lift(core.is_valid),
}

-- `create` answers one cap (or the error): a wrapper of its own, without
-- the varargs of `pass`, as scripts call it in loops. A `self` that a
-- method lookup has seen (`cap_kinds`, as in `fab:create(...)`) is a cap,
-- which `create_on_cap` takes straight from the stack; anything else goes
-- to `create`, which checks it.
local core_create, create_on_cap, cap_kinds = core.create, core.create_on_cap, core.cap_kinds
local function create(self, ...)
  local ok, cap
  if cap_kinds[self] ~= nil then
    ok, cap = create_on_cap(self, ...)
  else
    ok, cap = core_create(self, ...)
  end
  if ok then return cap end
  raise(cap)
end

local ns_get, ns_set, ns_wait = lift(core.ns_get), lift(core.ns_set), lift(core.ns_wait)
local dir_lookup = lift(core.dir_lookup)

-- `query` returns a function that yields the cap (or nil) when called.
local function query(self, name, rights)
  if type(name) ~= "string" then
    raise("bad argument #1 to 'query' (string expected, got " .. type(name) .. ")")
  end
  if rights ~= nil and type(rights) ~= "string" and type(rights) ~= "number" then
    raise("bad argument #2 to 'query' (string or number expected, got " .. type(rights) .. ")")
  end
  local ok, kind = core.kind(self)
  if not ok then raise("calling 'query' on bad self (capability expected)") end
  local is_dir = kind == "Directory"
  return function()
    local cap
    if is_dir then
      cap = dir_lookup(self, name)
    else
      cap = ns_get(self, name)
      -- A task holding the namespace with `w` may still register it.
      if cap == nil then
        ns_wait(self, name)
        cap = ns_get(self, name)
      end
    end
    if cap == nil then return nil end
    return cap:m(rights or "r")
  end
end

local function resolve_path(path)
  local cap = L4.Env
  for part in path:gmatch("[^/]+") do
    if type(cap) == "table" then
      cap = cap[part]
    elseif cap ~= nil then
      cap = cap:query(part)()
    end
    if cap == nil then return nil end
  end
  if type(cap) == "table" then return nil end
  return cap
end

-- A factory: a cap whose type has `create`; `what` says where it came from
-- ("bad argument #2 to 'f'").
local function check_factory(fab, what)
  local ok, kind = core.kind(fab)
  local m = ok and methods[kind]
  if not (m and m.create) then
    raise(what .. " (factory expected, got " .. (ok and kind or type(fab)) .. ")")
  end
  return fab
end

local function register(self, name, value, factory)
  if type(name) ~= "string" then
    raise("bad argument #1 to 'register' (string expected, got " .. type(name) .. ")")
  end
  if factory ~= nil then check_factory(factory, "bad argument #3 to 'register'") end
  local tv = type(value)
  if tv == "string" then
    local cap = resolve_path(value)
    if cap == nil then raise("Could not resolve: '" .. value .. "'") end
    value = cap
  elseif tv == "table" then
    local fab = factory or L4.Env.factory
    local ns = fab:create(L4.Proto.Namespace)
    for k, v in pairs(value) do register(ns, k, v, fab) end
    value = ns
  elseif tv == "function" then
    return value(self, name)
  end
  ns_set(self, name, value)
end

methods.Namespace = {
  query = query, q = query,
  register = register, r = register,
  create = create,
  names = lift(core.ns_names),
}
methods.Directory = { query = query, q = query }
methods.Factory = { create = create }
methods.Ipc_gate = { create = create }
methods.Socket = {
  address = lift(core.sock_address), protocol = lift(core.sock_protocol),
  listening = lift(core.sock_listening),
}

-- rm and parent exist but have no Linux object: every method says so.
local function unsupported(kind)
  return setmetatable({}, {
    __index = function(_, k)
      return function() raise("L4.Env." .. kind .. ":" .. tostring(k) .. "() is not supported on Linux") end
    end,
  })
end
methods.Rm = unsupported("rm")
methods.Parent = unsupported("parent")

-- Each type's table holds the common methods too (they win over the
-- type's own), so a cap's `__index` reads one table. The tables are
-- complete here, before the first cap exists (L4.Env, below).
for kind, own in pairs(methods) do
  if kind ~= "*" then
    for name, f in pairs(methods["*"]) do rawset(own, name, f) end
  end
end

-- A Linux extra: L4.on_signal("HUP" | "USR1" | "USR2", fn) takes that
-- signal from ned; fn(name) runs from ned's loop at each arrival. A taken
-- HUP no longer shuts ned down; fn == nil gives the signal back.
L4.on_signal = lift(core.on_signal)

-- L4.Env: ned's own initial caps; unknown names are nil.
L4.Env = pass(core.env())

-- Tasks --------------------------------------------------------------------

local Task = {}
Task.__index = Task

-- Exit handlers by task id.
local handlers = {}
-- on_ready callbacks by task id, with the task object they keep alive.
local ready_handlers = {}
-- The task objects the script can still reach, by id (weak): once one is
-- gone and no handler waits for it, nobody can ask about the task again and
-- ned forgets it, so a script that starts tasks forever does not grow.
local objects = setmetatable({}, { __mode = "v" })

-- Collected task object: forget the task unless a handler still needs it
-- (dispatch forgets it after the handler ran). Natives never raise, so a
-- failure here is silent rather than a warning from inside the collector.
function Task:__gc()
  if handlers[self.id] == nil then core.task_release(self.id) end
end

local function new_task(id, pid)
  local t = setmetatable({ id = id, pid_ = pid }, Task)
  objects[id] = t
  return t
end

local task_state = lift(core.task_state)

function Task:state()
  return (task_state(self.id))
end

function Task:exit_code()
  local st, code = task_state(self.id)
  if st == "zombie" then return code end
  return nil
end

-- A Linux extra: the signal that killed the task, if one did; still
-- readable after wait() or kill() reaped it.
function Task:signal()
  local st, _, sig = task_state(self.id)
  if st == "zombie" then return sig end
  return self.sig_
end

-- A Linux extra: the process id while the script holds the task.
function Task:pid()
  return pass(core.task_pid(self.id))
end

-- A Linux extra: task:wait(ms) gives up after ms milliseconds, returning
-- nil, "timeout" (the task stays the script's).
function Task:wait(ms)
  local secs
  if ms ~= nil then
    if type(ms) ~= "number" then
      raise("bad argument #1 to 'wait' (number expected, got " .. type(ms) .. ")")
    end
    if not (ms >= 0) then raise("bad argument #1 to 'wait' (milliseconds must be >= 0)") end
    secs = ms / 1000
  end
  local code, sig, timed_out = pass(core.task_wait(self.id, secs))
  if timed_out then return nil, "timeout" end
  handlers[self.id] = nil
  ready_handlers[self.id] = nil
  if sig ~= nil then self.sig_ = sig end
  return code
end

function Task:kill(sig)
  if sig ~= nil then
    if type(sig) ~= "number" then
      raise("bad argument #1 to 'kill' (number expected, got " .. type(sig) .. ")")
    end
    local n = tointeger(sig)
    if n == nil then
      raise("bad argument #1 to 'kill' (number has no integer representation)")
    end
    pass(core.task_signal(self.id, n))
    return true
  end
  local st, code, sig = task_state(self.id)
  if st == nil then return nil end
  if st == "zombie" then
    handlers[self.id] = nil
    self.sig_ = sig
    pass(core.task_release(self.id))
    return code
  end
  pass(core.task_kill_tree(self.id, 9))
  pass(core.task_release(self.id))
  ready_handlers[self.id] = nil
  local h = handlers[self.id]
  handlers[self.id] = nil
  if h then
    local ok, err = pcall(h, nil)
    if not ok then io.stderr:write("lua error: ", tostring(core.render_error(err)), "\n") end
  end
  return "killed"
end

-- A Linux extra: `sig` (default SIGKILL) to the task's whole tree — its
-- process, its process group and every descendant, also those that left
-- the group with setsid. The task stays held: wait() or an exit handler
-- still sees its end.
function Task:kill_tree(sig)
  if sig == nil then sig = 9 end
  local n = type(sig) == "number" and tointeger(sig) or nil
  if n == nil then
    raise("bad argument #1 to 'kill_tree' (integer signal number expected, got " .. type(sig) .. ")")
  end
  pass(core.task_kill_tree(self.id, n))
  return true
end

function Task:exit_handler(fn)
  if type(fn) ~= "function" then
    raise("bad argument #1 to 'exit_handler' (function expected, got " .. type(fn) .. ")")
  end
  if handlers[self.id] then
    raise("exit_handler callback already registered")
  end
  local st, code = task_state(self.id)
  if st == "running" then
    handlers[self.id] = fn
    return true
  end
  fn(st == "zombie" and code or nil)
  return false
end

-- Readiness (Linux extras, docs/readiness.md): what a task started with
-- `notify = true` said over NOTIFY_SOCKET.
local task_readiness = lift(core.task_readiness)

function Task:ready()
  return (task_readiness(self.id)) == true
end

function Task:status()
  local _, status = task_readiness(self.id)
  return status
end

function Task:stopping()
  local _, _, stopping = task_readiness(self.id)
  return stopping
end

-- fn(task) runs from ned's loop when the task sends READY=1; at once if it
-- did already. Raises for a task that does not notify.
function Task:on_ready(fn)
  if type(fn) ~= "function" then
    raise("bad argument #1 to 'on_ready' (function expected, got " .. type(fn) .. ")")
  end
  if ready_handlers[self.id] then raise("on_ready callback already registered") end
  local ready = task_readiness(self.id)
  if ready == nil then
    raise("on_ready: the task was not started with notify = true, or it ended")
  end
  if ready then
    fn(self)
    return false
  end
  ready_handlers[self.id] = { fn = fn, task = self }
  return true
end

function Task:__tostring()
  local st = task_state(self.id)
  return "L4::Task[" .. tostring(self.pid_) .. "] " .. tostring(st or "reaped")
end

-- Called by ned's loop for every exit it records.
local function dispatch(id, code)
  ready_handlers[id] = nil
  local h = handlers[id]
  if h == nil then return end
  handlers[id] = nil
  if task_state(id) == nil then return end
  local ok, err = pcall(h, code)
  if objects[id] == nil then core.task_release(id) end
  if not ok then error(err, 0) end
end

-- Cpu_set ------------------------------------------------------------------

local Cpu_set = {}
Cpu_set.__index = Cpu_set

local function cpu_list(set)
  local l = {}
  for cpu in pairs(set.cpus) do l[#l + 1] = cpu end
  sort(l)
  return l
end

function Cpu_set.new(spec)
  local s = setmetatable({ cpus = {} }, Cpu_set)
  local ts = type(spec)
  if spec == nil then
    return s
  elseif ts == "number" then
    if spec < 0 or spec >= 4096 or spec % 1 ~= 0 then
      raise("bad argument #1 to 'Cpu_set.new' (cpu number out of range)")
    end
    s.cpus[spec] = true
  elseif ts == "string" then
    for part in spec:gmatch("[^,]+") do
      local a, b = part:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
      a, b = tonumber(a), tonumber(b)
      if not a then
        a = tonumber(part:match("^%s*(%d+)%s*$"))
        b = a
      end
      if not a or b < a or b >= 4096 then
        raise("bad argument #1 to 'Cpu_set.new' (bad cpu range '" .. part .. "')")
      end
      for c = a, b do s.cpus[c] = true end
    end
  elseif ts == "table" then
    for _, c in ipairs(spec) do
      if type(c) ~= "number" or c < 0 or c >= 4096 or c % 1 ~= 0 then
        raise("bad argument #1 to 'Cpu_set.new' (cpu numbers expected)")
      end
      s.cpus[c] = true
    end
  else
    raise("bad argument #1 to 'Cpu_set.new' (nil, number, string or table expected, got " .. ts .. ")")
  end
  return s
end

-- Operands of `|` and `&` (and `self` of the methods) must be sets.
local function check_set(v, op)
  if getmetatable(v) ~= Cpu_set or type(v.cpus) ~= "table" then
    raise("attempt to perform '" .. op .. "' on a " .. type(v) .. " value (Cpu_set expected)")
  end
end

function Cpu_set.__bor(a, b)
  check_set(a, "|"); check_set(b, "|")
  local s = Cpu_set.new()
  for c in pairs(a.cpus) do s.cpus[c] = true end
  for c in pairs(b.cpus) do s.cpus[c] = true end
  return s
end

function Cpu_set.__band(a, b)
  check_set(a, "&"); check_set(b, "&")
  local s = Cpu_set.new()
  for c in pairs(a.cpus) do if b.cpus[c] then s.cpus[c] = true end end
  return s
end

function Cpu_set.__tostring(s)
  check_set(s, "tostring")
  local l = cpu_list(s)
  local parts, i = {}, 1
  while i <= #l do
    local j = i
    while j < #l and l[j + 1] == l[j] + 1 do j = j + 1 end
    parts[#parts + 1] = (i == j) and tostring(l[i]) or (l[i] .. "-" .. l[j])
    i = j + 1
  end
  return concat(parts, ",")
end

-- The scheduler words of a set: 64 CPUs per word.
function Cpu_set:words()
  check_set(self, "words")
  local words = {}
  for c in pairs(self.cpus) do
    local w = c // 64 + 1
    for k = #words + 1, w do words[k] = 0 end
    words[w] = words[w] | (1 << (c % 64))
  end
  return words
end

L4.Cpu_set = Cpu_set

-- App_env: the start table as an object, as upstream's Loader builds it.
local App_env = {}
App_env.__index = App_env
function App_env.new(tbl)
  if tbl ~= nil and type(tbl) ~= "table" then
    raise("bad argument #1 to 'App_env.new' (table expected, got " .. type(tbl) .. ")")
  end
  return setmetatable(tbl or {}, App_env)
end
L4.App_env = App_env

-- Loader -------------------------------------------------------------------

local Loader = {}
Loader.__index = Loader

function Loader.new(opts)
  if opts ~= nil and type(opts) ~= "table" then
    raise("bad argument #1 to 'Loader.new' (table expected, got " .. type(opts) .. ")")
  end
  local l = setmetatable({}, Loader)
  for k, v in pairs(opts or {}) do l[k] = v end
  l.factory = l.factory or L4.Env.factory
  l.mem = l.mem or L4.Env.mem_alloc
  l.log_fab = l.log_fab or L4.Env.factory
  l.ns_fab = l.ns_fab or L4.Env.factory
  l.rm_fab = l.rm_fab or L4.Env.factory
  l.sched_fab = l.sched_fab or L4.Env.factory
  l.default_caps = l.default_caps or { rom = L4.Env.rom:m("r") }
  return l
end

local function check_loader(self, fname)
  if getmetatable(self) ~= Loader then
    raise("calling '" .. fname .. "' on bad self (loader expected)")
  end
end

function Loader:new_channel()
  check_loader(self, "new_channel")
  return pass(core.new_channel())
end

function Loader:create_namespace(tbl, fab)
  check_loader(self, "create_namespace")
  if type(tbl) ~= "table" then
    raise("bad argument #1 to 'create_namespace' (table expected, got " .. type(tbl) .. ")")
  end
  if fab ~= nil then
    check_factory(fab, "bad argument #2 to 'create_namespace'")
  elseif self.ns_fab ~= nil then
    fab = check_factory(self.ns_fab, "bad field 'ns_fab' of the loader in 'create_namespace'")
  else
    fab = L4.Env.factory
  end
  local ns = fab:create(L4.Proto.Namespace)
  for k, v in pairs(tbl) do ns:register(k, v, fab) end
  return ns
end

function Loader:create_sched_proxy(opts)
  check_loader(self, "create_sched_proxy")
  if type(opts) ~= "table" then
    raise("bad argument #1 to 'create_sched_proxy' (table expected, got " .. type(opts) .. ")")
  end
  local cpus = opts.cpus
  if cpus ~= nil and getmetatable(cpus) ~= Cpu_set then cpus = Cpu_set.new(cpus) end
  local limit = opts.prio_limit or 255
  local base = opts.prio_offset or 0
  if type(limit) ~= "number" or type(base) ~= "number" then
    raise("bad argument #1 to 'create_sched_proxy' (prio_limit and prio_offset must be numbers)")
  end
  local fab = L4.Env.factory
  if self.sched_fab ~= nil then
    fab = check_factory(self.sched_fab, "bad field 'sched_fab' of the loader in 'create_sched_proxy'")
  end
  if cpus then
    return fab:create(L4.Proto.Scheduler, limit, base, table.unpack(cpus:words()))
  end
  return fab:create(L4.Proto.Scheduler, limit, base)
end

local function start_task(fname, self, ...)
  check_loader(self, fname)
  return new_task(pass(core.start(fname, self, ...)))
end

function Loader:start(...)
  return start_task("start", self, ...)
end
function Loader:startv(...)
  return start_task("startv", self, ...)
end

L4.Loader = Loader
L4.default_loader = Loader.new()

-- Timers (Linux extras, docs/l4.md) ----------------------------------------

local Timer = {}
Timer.__index = Timer
-- Armed timers by id: the callback and the timer object, kept alive until
-- a one-shot timer fired or any timer was cancelled.
local timers = {}

local function new_timer(fname, ms, fn, periodic)
  if type(ms) ~= "number" then
    raise("bad argument #1 to '" .. fname .. "' (number expected, got " .. type(ms) .. ")")
  end
  if type(fn) ~= "function" then
    raise("bad argument #2 to '" .. fname .. "' (function expected, got " .. type(fn) .. ")")
  end
  local secs = ms / 1000
  local id = pass(core.timer_add(fname, secs))
  local t = setmetatable({ id = id, periodic = periodic, ms = ms }, Timer)
  timers[id] = { fn = fn, timer = t }
  return t
end

-- fn(timer) once, ms milliseconds from now.
function L4.timer(ms, fn) return new_timer("timer", ms, fn, false) end
-- fn(timer) every ms milliseconds until cancelled.
function L4.every(ms, fn) return new_timer("every", ms, fn, true) end

function Timer:cancel()
  timers[self.id] = nil
  return pass(core.timer_cancel(self.id))
end

function Timer:active()
  return timers[self.id] ~= nil
end

function Timer:__tostring()
  return "L4::Timer[" .. (self.periodic and "every " or "") .. tostring(self.ms) .. " ms] "
    .. (timers[self.id] and "armed" or "done")
end

-- Milliseconds on the monotonic clock, to measure durations.
L4.now = lift(core.now)

-- The boot timeline as an SVG file (docs/timeline.md).
L4.timeline = lift(core.timeline)
-- How many notify datagrams came from processes that are no notifying task.
L4.notify_strangers = lift(core.notify_strangers)

-- Readiness and timer events, from ned's loop.
local function dispatch_event(kind, id)
  if kind == "timer" then
    local e = timers[id]
    if e == nil then return end
    if not e.timer.periodic then timers[id] = nil end
    e.fn(e.timer)
  elseif kind == "ready" then
    local e = ready_handlers[id]
    if e == nil then return end
    ready_handlers[id] = nil
    e.fn(e.task)
  end
end

-- ned's loop calls the dispatchers for every event it records.
return L4, dispatch, dispatch_event
