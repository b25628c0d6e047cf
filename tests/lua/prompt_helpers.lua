-- The prompt's helpers (require("ned.prompt"), docs/prompt-helpers.md),
-- called from a boot script: they are Lua functions of ned's main state.
-- Tasks are ned-probe; the rom is the sandbox's. Run by
-- crates/ned/tests/integration/view.rs.
local check = require("check")
local eq, raises, truthy = check.eq, check.raises, check.truthy
local L4 = require("L4")
local p = require("ned.prompt")
local ld = L4.default_loader

eq(p.ps(), "TAG  PID  STATE  UPTIME  EXIT", "ps() with no task: the header")
eq(#p.tasks(), 0, "tasks() with no task")

-- Turns the loop (logs flow, exits are recorded) until `cond` holds.
local function until_true(what, cond)
  for _ = 1, 500 do
    if cond() then return end
    ld:start({ log = { "pacer" } }, "rom/probe"):wait()
  end
  error("never: " .. what)
end
local function find(tag)
  for _, t in ipairs(p.tasks(true)) do
    if t.tag == tag then return t end
  end
end

-- A failing check must not leave ned waiting for the sleepers.
local function main()
  local chan = ld:new_channel()
  local web = ld:start({
    log = { "web", "g" },
    caps = { svc = chan:svr(), files = L4.Env.rom:m("r") },
  }, "rom/probe --stdout-lines 30 --sleep 60")
  local once = ld:start({ log = { "once" } }, "rom/probe --exit 3")

  until_true("web logged 31 lines", function()
    local t = find("web")
    return t.lines == 31
  end)
  until_true("once exited", function() return once:state() == "zombie" end)

  local w = find("web")
  eq(w.pid, web:pid(), "pid")
  eq(w.state, "running", "state")
  truthy(w.uptime >= 0 and w.uptime < 60, "uptime in seconds")
  truthy(w.cpu >= 0, "cpu seconds from /proc")
  truthy(w.rss > 0, "rss bytes from /proc")
  -- The loader's default caps (rom) join the script's; name order.
  eq(#w.caps, 3, "three caps")
  eq(w.caps[1].name, "files", "caps in name order")
  eq(w.caps[1].type, "Directory", "cap type")
  eq(w.caps[1].rights, "r", "read-only rights")
  eq(w.caps[2].name, "rom", "the default rom cap")
  eq(w.caps[3].name, "svc", "third cap")
  eq(w.caps[3].type, "Ipc_gate", "channel type")
  eq(w.caps[3].rights, "rwsdc", "server rights")

  local o = find("once")
  eq(o.state, "exited", "exited state")
  eq(o.code, 3, "exit code")
  eq(o.cpu, nil, "no cpu once exited")
  eq(p.exit_of(o), "code 3", "exit_of")

  -- ps(): one aligned row per task, the header first.
  local ps = p.ps()
  truthy(ps:find("^TAG%s+PID%s+STATE%s+UPTIME%s+EXIT\n"), "ps header: " .. ps)
  truthy(ps:find("\nweb%s+" .. web:pid() .. "%s+running%s+%d+s"), "ps web row: " .. ps)
  truthy(ps:find("\nonce%s+%d+%s+exited%s+%d+s%s+code 3"), "ps once row: " .. ps)

  -- caps()
  local caps = p.caps("web")
  truthy(caps:find("web%s+%d+%s+files%s+Directory%s+r\n"), "caps files: " .. caps)
  truthy(caps:find("web%s+%d+%s+svc%s+Ipc_gate%s+rwsdc$"), "caps svc: " .. caps)
  eq(p.caps(web:pid()), caps, "caps by pid")

  -- logs(): the last n lines, oldest first.
  eq(p.logs("web", 3), "line 28\nline 29\nline 30", "last 3 lines")
  eq(select(2, p.logs("web"):gsub("\n", "")) + 1, 20, "20 lines by default")
  eq(p.logs("web", 0), "", "no line")
  truthy(p.logs("once", 1):find('^{"argv"'), "an exited task's log: its JSON report")
  raises("line count must be", p.logs, "web", -1)
  raises("integer expected", p.logs, "web", "x")
  raises("no task 'nobody'", p.logs, "nobody")
  raises("tag or pid expected", p.caps, {})

  -- start() and kill() by tag.
  local pid = p.start("extra", "rom/probe --sleep 60")
  eq(find("extra").pid, pid, "started under its tag")
  raises("bad argument #1 to 'start'", p.start, nil, "rom/probe")
  raises("bad argument #2 to 'start'", p.start, "x", 42)
  raises("start: ", p.start, "x", "rom/does-not-exist")
  raises("no running task 'once'", p.kill, "once")
  raises("unknown signal 'NOPE'", p.kill, "extra", "NOPE")
  eq(p.kill("extra", "KILL"), 1, "one task signalled")
  until_true("extra died", function() return find("extra").state == "exited" end)
  eq(find("extra").signal, 9, "killed by signal 9")
  truthy(p.ps():find("extra%s+%d+%s+exited%s+%d+s%s+signal 9"), "ps shows the signal")

  -- By pid; TERM by default.
  eq(p.kill(web:pid()), 1, "kill by pid, TERM by default")
  until_true("web died", function() return web:state() ~= "running" end)
  eq(web:signal(), 15, "web got TERM")

  -- rows(): the live view's sample.
  local rows = p.rows()
  local head, n = rows:match("^(ned)\t(%d+)")
  eq(head, "ned", "sample header")
  eq(tonumber(n), #p.tasks(), "sample count")
  truthy(rows:find("\n" .. web:pid() .. "\tweb\texited\t[%d.]+\t[%d.]+\t0\t31\tsignal 15"), "web row: " .. rows)

  -- The live view's columns are an extension point.
  table.insert(p.columns, { "NOTE", function(t) return t.tag == "once" and "!" or "" end })
  truthy(p.ps():find("UPTIME%s+EXIT%s+NOTE\n"), "an added column")
  table.remove(p.columns)

end
local ok, err = pcall(main)
if not ok then
  for _, t in ipairs(p.tasks()) do
    if t.state == "running" then pcall(p.kill, t.pid, "KILL") end
  end
  error(err, 0)
end

-- For the runner: every pid this script saw, which must be gone at the end.
for _, t in ipairs(p.tasks()) do print("task pid", t.pid) end
check.done()
