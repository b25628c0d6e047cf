-- fb.lua: a driver task serves a channel, and the boot script asks it for
-- sessions the way upstream configs ask a framebuffer driver:
-- `fb:create(L4.Proto.Goos, "g=640x480")` is forwarded to the driver and
-- blocks until it answers (spec §7). The driver is `ned-fb-demo`, built
-- from crates/ned-client; run with its directory as rom:
--
--   cargo build --bins
--   ned --exit --rom target/debug examples/drivers/fb.lua
--
-- expect: fb | fb: serving
-- expect: fb | fb: session 640x480 for client 1
-- expect: session L4::Cap<Dataspace>
-- expect: refused: fb: bad mode 'g=huge' (-22)
-- expect: client | 1228800
local L4 = require("L4")
local ld = L4.default_loader

local fb = ld:new_channel()
local drv = ld:start({ caps = { svr = fb:svr() }, log = { "fb", "b" } }, "rom/ned-fb-demo")

-- Blocks until the driver has started and answered.
local session = fb:create(L4.Proto.Goos, "g=640x480")
print("session " .. tostring(session):match("^L4::Cap<%a+>"))

local ok, err = pcall(fb.create, fb, L4.Proto.Goos, "g=huge")
print("refused: " .. (ok and "nothing" or (err.msg .. " (" .. err.code .. ")")))

-- A client gets the session like any other cap: 640 x 480 x 4 bytes.
ld:startv({ caps = { fb = session }, log = { "client" } },
  "/usr/bin/stat", "-L", "-c", "%s", "/proc/self/fd/3"):wait()
drv:kill()
