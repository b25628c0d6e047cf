-- redact.lua: a Lunatik runtime as a hook on ned's log path. The runtime
-- (examples/hooks/redact.lua) sees every line a task writes before ned
-- prints it, rewrites secrets and counts lines per tag; ned prints what it
-- answers. It is non-sleepable ("softirq"): it runs inline on ned's loop
-- under an instruction budget, and a hook that fails is removed, not fatal.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/redact.lua
--
-- expect: app | login ok user=alice password=<redacted>
-- expect: app | a line without secrets
-- expect: app said 2 lines
local L4 = require("L4")
local lunatik = require("lunatik")

L4.log_hook(lunatik.runtime("hooks/redact", "softirq"))

local app = L4.default_loader:startv({ log = { "app", "g" } }, "/bin/sh", "-c",
  "echo login ok user=alice password=hunter2; echo a line without secrets")
app:exit_handler(function()
  print("app said " .. lunatik._ENV.log_counts.app .. " lines")
end)
