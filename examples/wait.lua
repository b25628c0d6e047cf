-- wait.lua: the boot script can also wait for a task and use its exit code;
-- logs keep flowing while it waits.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/wait.lua
--
-- expect: step1 | preparing
-- expect: step 1 finished with 0
-- expect: step2 | step 1 said ok
-- expect: step 2 finished with 3
local L4 = require("L4")
local ld = L4.default_loader

local code = ld:startv({ log = { "step1" } }, "/bin/sh", "-c", "echo preparing"):wait()
print("step 1 finished with " .. tostring(code))

local t = ld:startv({ log = { "step2" } }, "/bin/sh", "-c", 'echo "step 1 said $RESULT"; exit 3',
  { RESULT = code == 0 and "ok" or "failure" })
print("step 2 finished with " .. tostring(t:wait()))
