-- An upstream config whose create fails and nobody catches it: ned prints
-- the error table's msg and code (spec §3), not `table: 0x...`. The exit
-- handler of a task raises such a table too. The Rust runner checks both
-- lines on stderr and exit status 1 (the script failed).
local L4 = require("L4")
local t = L4.default_loader:start({ log = { "short" } }, "/bin/true")
t:exit_handler(function() error({ msg = "handler gave up", code = -5 }) end)
-- Upstream's vmm.lua creates a Vm kernel object; Linux has none.
local vm = L4.Env.factory:create(L4.Proto.Vm)
print("not reached", vm)
