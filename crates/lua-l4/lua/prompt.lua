-- ned.prompt: helpers for the command prompt (docs/prompt-helpers.md).
--
-- `require("ned.prompt")` in ned's main state returns this table. It gets
-- the natives of crates/lua-l4/src/tasks_info.rs and the L4 package. The
-- helpers that show something return it as a string, so a bare `p.ps()` at
-- the prompt prints it; `p.tasks()` gives the same facts as tables.

local core, L4 = ...

local error, type, tostring, ipairs, pairs, pcall = error, type, tostring, ipairs, pairs, pcall
local concat, floor, fmt = table.concat, math.floor, string.format

local function lift(f)
  return function(...)
    local function pass(ok, ...)
      if ok then return ... end
      error((...), 0)
    end
    return pass(f(...))
  end
end

local tasks_of, log_tail, signal = lift(core.tasks), lift(core.log_tail), lift(core.signal)

local P = {}

-- Every task ned knows (running, or exited and still held by the script),
-- in start order; `with_caps` adds each task's caps.
function P.tasks(with_caps)
  return tasks_of(with_caps == true)
end

-- "1d02h", "3h05m", "4m07s", "12s": short enough for a column.
function P.duration(s)
  s = floor(s)
  if s >= 86400 then return fmt("%dd%02dh", s // 86400, s % 86400 // 3600) end
  if s >= 3600 then return fmt("%dh%02dm", s // 3600, s % 3600 // 60) end
  if s >= 60 then return fmt("%dm%02ds", s // 60, s % 60) end
  return fmt("%ds", s)
end

-- How a task ended: "code N", "signal N", "lost"; "" while running.
function P.exit_of(t)
  return t.exit
end

-- The columns of ps(), in order: a title and how a record shows. A later
-- column (restarts, once ned supervises) is one more entry here.
P.columns = {
  { "TAG", function(t) return t.tag end },
  { "PID", function(t) return tostring(t.pid) end, right = true },
  { "STATE", function(t) return t.state end },
  { "UPTIME", function(t) return P.duration(t.uptime) end, right = true },
  { "EXIT", P.exit_of },
}

-- Lays rows of strings out in aligned columns under `titles`.
local function table_text(titles, right, rows)
  local width = {}
  for c, title in ipairs(titles) do width[c] = #title end
  for _, row in ipairs(rows) do
    for c, cell in ipairs(row) do
      if #cell > width[c] then width[c] = #cell end
    end
  end
  local out = {}
  local function line(cells)
    local parts = {}
    for c, cell in ipairs(cells) do
      local pad = (" "):rep(width[c] - #cell)
      parts[c] = right[c] and (pad .. cell) or (cell .. pad)
    end
    out[#out + 1] = (concat(parts, "  "):gsub("%s+$", ""))
  end
  line(titles)
  for _, row in ipairs(rows) do line(row) end
  return concat(out, "\n")
end

-- ps(): the task table as text.
function P.ps()
  local titles, right, rows = {}, {}, {}
  for c, col in ipairs(P.columns) do
    titles[c] = col[1]
    right[c] = col.right or false
  end
  for _, t in ipairs(P.tasks()) do
    local row = {}
    for c, col in ipairs(P.columns) do row[c] = tostring(col[2](t)) end
    rows[#rows + 1] = row
  end
  return table_text(titles, right, rows)
end

-- The tasks `which` names: a tag (every task with it) or a pid.
local function find(which, fname, running_only)
  local tw = type(which)
  if tw ~= "string" and tw ~= "number" then
    error("bad argument #1 to '" .. fname .. "' (tag or pid expected, got " .. tw .. ")", 3)
  end
  local found = {}
  for _, t in ipairs(P.tasks(fname == "caps")) do
    if (t.tag == which or t.pid == which) and (not running_only or t.state == "running") then
      found[#found + 1] = t
    end
  end
  if #found == 0 then
    local what = running_only and "no running task " or "no task "
    error(fname .. ": " .. what .. (tw == "string" and ("'" .. which .. "'") or ("with pid " .. which)), 3)
  end
  return found
end

-- caps(tag or pid): each cap the task was given, with its type and rights.
function P.caps(which)
  local rows = {}
  for _, t in ipairs(find(which, "caps")) do
    for _, c in ipairs(t.caps) do
      rows[#rows + 1] = { t.tag, tostring(t.pid), c.name, c.type, c.rights }
    end
  end
  return table_text({ "TAG", "PID", "CAP", "TYPE", "RIGHTS" }, { false, true }, rows)
end

-- logs(tag or pid [, n]): the last n (default 20) lines of the task's log
-- that ned keeps.
function P.logs(which, n)
  if n == nil then n = 20 end
  if math.type(n) ~= "integer" then
    error("bad argument #2 to 'logs' (integer expected, got " .. (math.type(n) or type(n)) .. ")", 2)
  end
  local out = {}
  for _, t in ipairs(find(which, "logs")) do
    for _, l in ipairs(log_tail(t.id, n)) do out[#out + 1] = l end
  end
  return concat(out, "\n")
end

-- Tasks started with start(), held so that ps() shows how they ended.
local started = {}

-- start(tag, command [, env]): starts `command` (as loader:start takes it,
-- e.g. "rom/hello a b") with its log tagged `tag`; `env` is the start table
-- (caps, ...). Returns the pid.
function P.start(tag, cmd, env)
  if type(tag) ~= "string" or tag == "" then
    error("bad argument #1 to 'start' (tag expected, got " .. type(tag) .. ")", 2)
  end
  if type(cmd) ~= "string" then
    error("bad argument #2 to 'start' (command string expected, got " .. type(cmd) .. ")", 2)
  end
  if env ~= nil and type(env) ~= "table" then
    error("bad argument #3 to 'start' (table expected, got " .. type(env) .. ")", 2)
  end
  local e = {}
  for k, v in pairs(env or {}) do e[k] = v end
  e.log = e.log or { tag, "w" }
  local ok, task = pcall(L4.default_loader.start, L4.default_loader, e, cmd)
  if not ok then error("start: " .. tostring(task), 2) end
  -- Forget the exited tasks started before, so the list stays bounded.
  for id, t in pairs(started) do
    if t:state() ~= "running" then
      t:kill()
      started[id] = nil
    end
  end
  started[task.id] = task
  return task:pid()
end

local signals = { HUP = 1, INT = 2, QUIT = 3, KILL = 9, USR1 = 10, USR2 = 12, TERM = 15, CONT = 18, STOP = 19 }

-- kill(tag or pid [, signal]): sends `signal` (a number or a name such as
-- "KILL"; default TERM) to every running task it names. Their exit
-- handlers run as for any other death. Returns how many were signalled.
function P.kill(which, sig)
  if sig == nil then sig = 15 end
  if type(sig) == "string" then
    local n = signals[sig:upper():gsub("^SIG", "")]
    if n == nil then error("bad argument #2 to 'kill' (unknown signal '" .. sig .. "')", 2) end
    sig = n
  end
  if math.type(sig) ~= "integer" then
    error("bad argument #2 to 'kill' (signal number or name expected, got " .. type(sig) .. ")", 2)
  end
  local found = find(which, "kill", true)
  for _, t in ipairs(found) do signal(t.id, sig) end
  return #found
end

-- rows(): the live view's sample, one line per task, fields separated by
-- tabs: pid, tag, state, uptime (s), cpu (s), rss (bytes), log lines, exit.
-- The first line is "ned" and the number of tasks. One call per refresh,
-- built natively (no table per task).
P.rows = lift(core.rows)

return P
