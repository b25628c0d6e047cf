-- shared.lua: Lunatik's "shared" example, ported to ned. A key/value store
-- lives in a Lunatik runtime on its own thread, serving a ned channel; the
-- tasks this script starts use it through the channel cap like any other
-- server, and each connection is served by a runtime of its own. The
-- second client starts when the first has exited and reads what the first
-- wrote: one table, shared by every session.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/shared.lua
--
-- expect: writer | greeting=hello -> ok
-- expect: writer | greeting -> hello
-- expect: reader | greeting -> hello
-- expect: reader | answer -> 42
-- expect: reader | missing -> (absent)
-- expect: store stopped
local L4 = require("L4")
local lunatik = require("lunatik")
local thread = require("thread")
local ld = L4.default_loader

local channel = ld:new_channel()
local daemon = lunatik.runtime("shared/daemon")
local server = thread.run(daemon, "shared", channel:svr())

local writer = ld:start({ caps = { store = channel }, log = { "writer", "g" } },
  "rom/shared/client greeting=hello answer=42 greeting")
writer:exit_handler(function()
  local reader = ld:start({ caps = { store = channel }, log = { "reader", "c" } },
    "rom/shared/client greeting answer missing")
  reader:exit_handler(function()
    server:stop()
    daemon:stop()
    print("store stopped")
  end)
end)
