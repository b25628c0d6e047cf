-- lunatik.lua: a Lunatik runtime serving ned. The counter lives in its own
-- Lua state (examples/runtimes/counter.lua), published by name in
-- lunatik._ENV; each task's exit handler looks it up there and resumes it,
-- and the last one asks it for a summary.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/lunatik.lua
--
-- The Lua root is the script's directory, so "runtimes/counter" is
-- examples/runtimes/counter.lua. See docs/lunatik.md for the API.
--
-- expect: greet | hello from a task
-- expect: counter: 3 exits, 2 ok, 1 failed
-- expect: counter: ok: greet quiet
-- expect: counter: failed: crash (3)
local L4 = require("L4")
local lunatik = require("lunatik")
local ld = L4.default_loader

-- "softirq": non-sleepable, fit to run on ned's loop (no io, no blocking,
-- an instruction budget per resume).
lunatik._ENV.counter = lunatik.runtime("runtimes/counter", "softirq")

-- Tags of one width, so that log lines are not padded.
local tasks = {
  { "greet", "echo 'hello from a task'" },
  { "quiet", "true" },
  { "crash", "exit 3" },
}
local total = #tasks

for _, task in ipairs(tasks) do
  local name, cmd = task[1], task[2]
  local t = ld:startv({ log = { name } }, "/bin/sh", "-c", cmd)
  t:exit_handler(function(code)
    local counter = lunatik._ENV.counter
    if counter:resume("exit", name, code) == total then
      print(counter:resume("summary"))
      counter:stop()
    end
  end)
end
