-- ned.supervise's pure policy logic (check, should_restart, delay, order)
-- and the clear errors for nonsense values, before anything starts; plus
-- the argument checks of the timers it is built on.
local check = require("check")
local L4 = require("L4")
local sup = require("ned.supervise")

-- Restart decisions.
check.eq(sup.should_restart("never", 1, nil), false, "never")
check.eq(sup.should_restart("always", 0, nil), true, "always, clean exit")
check.eq(sup.should_restart("on-failure", 0, nil), false, "on-failure, clean")
check.eq(sup.should_restart("on-failure", 3, nil), true, "on-failure, code 3")
check.eq(sup.should_restart("on-failure", nil, 9), true, "on-failure, killed")

-- Backoff: exponential, capped, jitter spread around the base and capped.
local b = { initial = 100, max = 1000, factor = 2, jitter = 0 }
check.eq(sup.delay(b, 1, 0.5), 100, "first delay")
check.eq(sup.delay(b, 3, 0.5), 400, "third delay")
check.eq(sup.delay(b, 10, 0.5), 1000, "capped")
local j = { initial = 100, max = 1000, factor = 2, jitter = 0.5 }
check.eq(sup.delay(j, 1, 0), 50, "jitter low end")
check.eq(sup.delay(j, 1, 1), 150, "jitter high end")
check.eq(sup.delay(j, 10, 1), 1000, "jitter never passes the cap")
check.eq(sup.delay({ initial = 0, max = 0, factor = 2, jitter = 0.3 }, 5, 0.9), 0, "backoff 0")
check.eq(sup.delay({ initial = 0, max = 0, factor = 2, jitter = 0.3 }, 5000, 0.9), 0, "backoff 0, long loop")
check.eq(sup.delay(b, 5000, 0.5), 1000, "a long crash loop stays at the cap")

-- Defaults fill in; readiness follows notify.
local s = assert(sup.check("db", { cmd = "x", env = { notify = true } }))
check.eq(s.restart, "on-failure", "default policy")
check.eq(s.ready, "notify", "notify task waits for READY=1")
check.eq(s.backoff.initial, 100, "default initial")
check.eq(assert(sup.check("w", { argv = { "x" } })).ready, "started", "plain task")
check.eq(assert(sup.check("w", { argv = { "x" }, backoff = { initial = 60000 } })).backoff.max, 60000,
  "an initial above the default cap raises the cap")

-- Nonsense values: each a clear message.
local function bad(want, spec)
  local ok, err = sup.check("t", spec)
  check.eq(ok, nil, want)
  check.truthy(err:find(want, 1, true), "'" .. err .. "' names '" .. want .. "'")
end
bad("unknown restart policy 'sometimes'", { cmd = "x", restart = "sometimes" })
bad("backoff.initial must be a finite number >= 0, got -5", { cmd = "x", backoff = { initial = -5 } })
bad("backoff.max must be a finite number >= 0", { cmd = "x", backoff = { max = 0 / 0 } })
bad("backoff.max (10) is below backoff.initial (50)", { cmd = "x", backoff = { initial = 50, max = 10 } })
bad("backoff.factor must be >= 1", { cmd = "x", backoff = { factor = 0.5 } })
bad("backoff.jitter must be between 0 and 1", { cmd = "x", backoff = { jitter = 2 } })
bad("unknown backoff key 'inital'", { cmd = "x", backoff = { inital = 1 } })
bad("unknown key 'restrat'", { cmd = "x", restrat = "always" })
bad("exactly one of cmd", { cmd = "x", argv = { "x" } })
bad("exactly one of cmd", {})
bad("limit must be an integer >= 0, got -1", { cmd = "x", limit = -1 })
bad("stop_signal must be a signal number", { cmd = "x", stop_signal = 99 })
bad("stop_timeout must be a finite number >= 0", { cmd = "x", stop_timeout = -1 })
bad("stable must be a finite number >= 0", { cmd = "x", stable = "long" })
bad("ready = 'notify' needs notify = true", { cmd = "x", ready = "notify" })
bad("after must be a list of task names", { cmd = "x", after = "db" })
bad("on_exit must be a function", { cmd = "x", on_exit = 1 })

-- Start order: deps first, ties by name; unknown deps and cycles refused.
local function spec(after) return assert(sup.check("n", { cmd = "x", after = after })) end
local order = assert(sup.order({ w2 = spec({ "db" }), w1 = spec({ "db" }), db = spec({}), cron = spec({ "w1" }) }))
check.eq(table.concat(order, " "), "db w1 cron w2", "dependency order")
local _, err = sup.order({ a = spec({ "b" }), b = spec({ "c" }), c = spec({ "a" }) })
check.eq(err, "cycle in dependencies: a -> b -> c -> a", "cycle")
_, err = sup.order({ a = spec({ "ghost" }) })
check.eq(err, "task 'a' depends on unknown task 'ghost'", "unknown dep")

-- The supervisor raises them before anything starts.
local sv = sup.new()
check.raises("ned.supervise: task 'x': unknown restart policy", sv.add, sv, "x", { cmd = "/bin/true", restart = "maybe" })
sv:add("a", { argv = { "/bin/sleep", "100" }, after = { "b" } })
sv:add("b", { argv = { "/bin/sleep", "100" }, after = { "a" } })
check.raises("ned.supervise: cycle in dependencies: a -> b -> a", sv.start, sv)
check.eq(sv:state("a"), nil, "nothing started")
check.raises("added twice", sv.add, sv, "a", { cmd = "/bin/true" })

-- Timers refuse nonsense too.
check.raises("bad argument #1 to 'timer' (number expected, got string)", L4.timer, "10", print)
check.raises("bad argument #2 to 'every' (function expected, got nil)", L4.every, 10)
check.raises("bad argument #1 to 'timer' (milliseconds out of range", L4.timer, -1, print)
check.raises("bad argument #1 to 'every' (milliseconds out of range", L4.every, 0, print)
check.raises("bad argument #1 to 'timer' (milliseconds out of range", L4.timer, 0 / 0, print)
local t = L4.timer(60000, print)
check.eq(t:active(), true, "armed")
check.eq(t:cancel(), true, "cancelled")
check.eq(t:cancel(), false, "cancelled once")
check.eq(t:active(), false, "not armed")

-- Start tables: readiness fields are checked.
local ld = L4.default_loader
check.raises("notify must be a boolean, got string", ld.start, ld, { notify = "yes" }, "/bin/true")
check.raises("watchdog must be between 1 and 86400000 ms, got -1", ld.start, ld, { watchdog = -1 }, "/bin/true")
check.raises("watchdog must be a number of milliseconds, got table", ld.start, ld, { watchdog = {} }, "/bin/true")
local plain = ld:start({}, "/bin/true")
check.eq(plain:ready(), false, "a task that does not notify is not ready")
check.raises("on_ready: the task was not started with notify = true", plain.on_ready, plain, print)
plain:wait()

check.done()
