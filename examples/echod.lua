-- echod.lua: Lunatik's echo daemon, ported to ned. The daemon is a runtime
-- on its own thread, listening on TCP (127.0.0.1, a free port); each
-- connection gets a worker runtime on a thread of its own. The client is a
-- task in another process.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/echod.lua
--
-- expect: client | echo: hello
-- expect: client | echo: lunatik
-- expect: echod stopped
local L4 = require("L4")
local lunatik = require("lunatik")
local thread = require("thread")
local rcu = require("rcu")
local completion = require("completion")

local ready, bound = rcu.table(), completion.new()
local daemon = lunatik.runtime("echod/daemon")
local server = thread.run(daemon, "echod", 0, ready, bound)
assert(bound:wait(5000), "echod did not start")

local client = L4.default_loader:start({ log = { "client", "y" } },
  "rom/echod/client " .. ready.port .. " hello lunatik")
client:exit_handler(function()
  server:stop()
  daemon:stop()
  print("echod stopped")
end)
