-- calc.lua: upstream Ned's classic shape — a channel, a server holding its
-- server end, clients holding the other. The clients start first: their
-- connections wait in the channel's backlog until the server accepts.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/calc.lua
--
-- `rom` is the script's directory, so the programs are rom/calc/server and
-- rom/calc/client.
--
-- expect: client1 | 2 + 3 = 5
-- expect: client2 | 6 * 7 = 42
-- expect: server exited with 0
local L4 = require("L4")
local ld = L4.default_loader

local chan = ld:new_channel()
-- Clients hold the plain channel cap, as upstream writes it: `r` is enough
-- to send requests and read replies.
ld:start({ caps = { calc_server = chan }, log = { "client1", "green" } }, "rom/calc/client 2_+_3")
ld:start({ caps = { calc_server = chan }, log = { "client2", "green" } }, "rom/calc/client 6_*_7")
local server = ld:start({ caps = { calc_server = chan:svr() }, log = { "server", "blue" } },
  "rom/calc/server")
server:exit_handler(function(code) print("server exited with " .. tostring(code)) end)
