-- hello.lua: start two tasks with tagged logs and exit handlers.
--
--   cargo run --release --bin ned -- --wait-and-exit examples/hello.lua
--
-- Each task's output appears as `tag | line`; ned runs the exit handlers
-- from its loop and, with --wait-and-exit, ends when both tasks are gone.
-- (Without --wait-and-exit ned would serve forever, as upstream Ned does.)
--
-- expect: hello | Hello from a task started by ned
-- expect: count | 3
-- expect: hello exited with 0
-- expect: count exited with 7
local L4 = require("L4")
local ld = L4.default_loader

local hello = ld:startv({ log = { "hello", "green" } },
  "/bin/sh", "-c", "echo 'Hello from a task started by ned'")
hello:exit_handler(function(code) print("hello exited with " .. tostring(code)) end)

local count = ld:startv({ log = { "count", "cyan" } },
  "/bin/sh", "-c", "for i in 1 2 3; do echo $i; done; exit 7")
count:exit_handler(function(code) print("count exited with " .. tostring(code)) end)

print("boot script done; tasks run on")
