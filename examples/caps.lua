-- caps.lua: a task gets exactly the capabilities its start table grants,
-- as fds 3.. in name order, announced with the systemd variables.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/caps.lua
--
-- expect: show | LISTEN_FDS=3 LISTEN_FDNAMES=chan:data:rom
-- expect: show | fd 3 to 5 open, nothing beyond
-- expect: show exited with 0
local L4 = require("L4")
local ld = L4.default_loader

local chan = ld:new_channel()
local data = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)

-- The environment is exactly this table: nothing is inherited from ned.
local t = ld:startv({ caps = { chan = chan, data = data }, log = { "show", "y" } },
  "/bin/sh", "-c",
  'echo "LISTEN_FDS=$LISTEN_FDS LISTEN_FDNAMES=$LISTEN_FDNAMES"; ' ..
  'if [ -e /proc/self/fd/5 ] && [ ! -e /proc/self/fd/6 ]; then echo "fd 3 to 5 open, nothing beyond"; fi',
  { PATH = "/usr/bin:/bin" })
t:exit_handler(function(code) print("show exited with " .. tostring(code)) end)
