-- §8 lunatik.runner: run, spawn, stop, list, shutdown over _ENV; a
-- duplicate run is refused; another state sees the same registry.
local runner, lunatik, thread = require("lunatik.runner"), require("lunatik"), require("thread")
assert(runner.list() == "")
local rt = runner.run("scripts/echo")
assert(rt:resume("x") == "x")
assert(runner.list() == "scripts/echo")
local ok, err = pcall(runner.run, "scripts/echo.lua")
assert(not ok and err:find("scripts/echo is already running", 1, true), err)
runner.run("scripts/add", "softirq")
assert(runner.list() == "scripts/add, scripts/echo", runner.list())

-- spawn: its body runs on a thread until stopped.
local t = runner.spawn("scripts/spinner")
local deadline = os.time() + 10
while (lunatik._ENV.spins or 0) < 2 do assert(os.time() < deadline, "spinner never ran"); thread.sleep(1) end
assert(runner.list() == "scripts/add, scripts/echo, scripts/spinner", runner.list())

-- Another runtime sees and manages the same set.
local ev = lunatik.runtime("scripts/eval")
assert(ev:resume("return require('lunatik.runner').list()") == "scripts/add, scripts/echo, scripts/spinner")
ev:resume("require('lunatik.runner').stop('scripts/echo')")
assert(runner.list() == "scripts/add, scripts/spinner", runner.list())
ok, err = pcall(rt.resume, rt, "y")
assert(not ok and err:find("runtime stopped", 1, true), err)
ev:stop()

-- Failures: a missing script, per-CPU, bad names.
ok, err = pcall(runner.run, "scripts/missing")
assert(not ok and err:find("cannot open", 1, true), err)
assert(runner.list() == "scripts/add, scripts/spinner")
ok, err = pcall(runner.run, "scripts/echo", nil, true)
assert(not ok and err:find("per-CPU runtimes are not supported", 1, true), err)
ok, err = pcall(runner.stop, 42)
assert(not ok and err:find("script name expected", 1, true), err)
ok, err = pcall(runner.run, "../outside")
assert(not ok and err:find("escapes the Lua root", 1, true), err)
runner.stop("not/running")   -- a no-op

runner.shutdown()
assert(runner.list() == "")
assert(t:task().running == false)
lunatik._ENV.spins, lunatik._ENV.runtimes, lunatik._ENV.threads = nil, nil, nil
