-- §7: contexts. Non-sleepable runtimes have no io, cannot create runtimes or
-- threads, cannot load files after creation, and every blocking operation
-- raises; runaway scripts hit the instruction budget; memory limits hold.
local lunatik, completion = require("lunatik"), require("completion")
local ns = lunatik.runtime("scripts/eval", "softirq")
local function refused(code, op, ...)
  local ok, err = ns:resume("return pcall(function(...) " .. code .. " end, ...)", ...)
  assert(ok == false, code .. " did not fail")
  assert(err:find("'" .. op .. "' is not allowed in a non-sleepable runtime", 1, true), err)
end
assert(ns:resume("return io") == nil)
refused("require('lunatik').runtime('scripts/echo')", "lunatik.runtime")
refused("local rt = ...; require('thread').run(rt, 'x')", "thread.run", lunatik.runtime("scripts/echo"))
refused("local c = ...; c:wait(1)", "completion:wait", completion.new())
refused("require('thread').sleep(1)", "thread.sleep")
refused("dofile('x')", "dofile")
refused("loadfile('x')", "loadfile")
refused("require('scripts.echo')", "require")
refused("os.execute('true')", "os.execute")
-- a sleepable runtime may not be resumed (it could block) from here
refused("local rt = ...; rt:resume()", "resume", lunatik.runtime("scripts/echo"))
-- preloaded modules still load; completions can be completed
assert(ns:resume("local c = ...; require('rcu'); c:complete(); return true", completion.new()) == true)

-- instruction budget: a runaway loop becomes a clean error, the caller goes on
local spin = lunatik.runtime("scripts/eval", false, { budget = 100000 })
local ok, err = pcall(spin.resume, spin, "while true do end")
assert(not ok and err:find("instruction budget exceeded"), err)
-- even when the script tries to swallow the error
spin = lunatik.runtime("scripts/eval", false, { budget = 100000 })
ok, err = pcall(spin.resume, spin, "while true do pcall(function() while true do end end) end")
assert(not ok and err:find("instruction budget exceeded"), err)
-- ... and where the hook cannot yield: inside callbacks from C, behind
-- pcall, xpcall, coroutine.resume and coroutine.wrap
for _, code in ipairs({
  "while true do pcall(table.sort, {1, 2, 3}, function() while true do end end) end",
  "while true do xpcall(table.sort, print, {1, 2, 3}, function() while true do end end) end",
  "local t = require('rcu').table(); t.k = 1\n" ..
    "while true do pcall(require('rcu').map, t, function() while true do end end) end",
  "while true do coroutine.resume(coroutine.create(function() " ..
    "table.sort({1, 2, 3}, function() while true do end end) end)) end",
  "while true do pcall(coroutine.wrap(function() while true do end end)) end",
}) do
  spin = lunatik.runtime("scripts/eval", false, { budget = 100000 })
  ok, err = pcall(spin.resume, spin, code)
  assert(not ok and err:find("instruction budget exceeded"), code .. ": " .. tostring(err))
  -- the body was killed, and the caller (ned) goes on
  local ok2, err2 = pcall(spin.resume, spin, "return 1")
  assert(not ok2 and err2:find("cannot resume dead runtime", 1, true), tostring(err2))
end

-- memory limit: allocation failure is a Lua error in the caller
local fat = lunatik.runtime("scripts/eval", true, { memory = 256 * 1024 })
ok, err = pcall(fat.resume, fat, "local t = {} for i = 1, 1e7 do t[i] = tostring(i) end")
assert(not ok and err:find("not enough memory"), err)
ok, err = pcall(lunatik.runtime, "scripts/echo", true, { memory = 1024 })
assert(not ok, "tiny memory limit accepted")

-- sleepable runtimes keep everything
local sl = lunatik.runtime("scripts/eval", "process")
assert(sl:resume("return type(io)") == "table")
ns:stop(); sl:stop()

-- a runaway creation script of a non-sleepable runtime is stopped too
local ok2, err2 = pcall(lunatik.runtime, "scripts/runaway", false)
assert(not ok2 and err2:find("instruction budget exceeded"), err2)
