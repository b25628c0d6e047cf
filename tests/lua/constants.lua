#!/usr/bin/env ned
-- Spec §4: every constant of the L4 package, compared with upstream's values.
-- The first line above is a shebang and must be skipped; the line numbers of
-- the rest stay as they are (checked at the end).
local check = require("check")
local eq = check.eq

check.eq(rawget(_G, "L4"), nil, "L4 must not be a global")
local L4 = require("L4")
check.eq(rawget(_G, "L4"), nil, "require must not create a global L4")
eq(require("L4"), L4, "require returns the same package")

local expected = {
  Proto = {
    Dataspace = 0x4000, Namespace = 0x4001, Goos = 0x4003, Mem_alloc = 0x4004,
    Rm = 0x4005, Event = 0x4006, Inhibitor = 0x4007, Sigma0 = -6, Log = -13,
    Scheduler = -14, Factory = -15, Vm = -16, Dma_space = -17, Irq_sender = -18,
    Semaphore = -20, Iommu = -22, Ipc_gate = 0,
  },
  Rights = { w = 1, s = 2, r = 4, d = 8, n = 16, c = 32, ro = 4, rw = 5, rws = 7 },
  Ldr_flags = { eager_map = 1, all_segs_cow = 2, pinned_segs = 4 },
  Mem_alloc_flags = { Continuous = 1, Pinned = 2, Super_pages = 4 },
  Dbg = {
    Info = 1, Warn = 2, Boot = 4, Server = 0x10, Exceptions = 0x20,
    Cmd_line = 0x40, Loader = 0x80, Name_space = 0x400, All = 0xffffffff,
  },
}

for group, values in pairs(expected) do
  local t = L4[group]
  check.eq(type(t), "table", "L4." .. group)
  for k, v in pairs(values) do
    eq(t[k], v, "L4." .. group .. "." .. k)
    eq(math.type(t[k]), "integer", "L4." .. group .. "." .. k .. " is an integer")
  end
  -- No extra or missing names.
  for k in pairs(t) do
    check.truthy(values[k] ~= nil, "unexpected L4." .. group .. "." .. tostring(k))
  end
end

-- L4.Info
local arch = L4.Info.arch()
check.truthy(({ amd64 = 1, arm64 = 1, x86 = 1, arm = 1, riscv = 1, ppc32 = 1, mips = 1 })[arch],
  "L4.Info.arch() is an L4 arch name, got " .. tostring(arch))
local uname = io.popen("uname -m"):read("l")
local want_arch = ({ x86_64 = "amd64", aarch64 = "arm64" })[uname]
if want_arch then eq(arch, want_arch, "arch for uname -m " .. uname) end
eq(type(L4.Info.platform()), "string", "L4.Info.platform()")
check.truthy(#L4.Info.platform() > 0, "platform not empty")
eq(L4.Info.mword_bits(), string.packsize("j") * 8, "mword_bits")
local release = io.popen("uname -r"):read("l")
eq(L4.Info.Kip.str(), release, "L4.Info.Kip.str() is the kernel release")

-- The shebang line was skipped, not deleted: this is line 56.
local _, where = pcall(function() error("here") end)
eq(where:match(":(%d+): here$"), "56", "line numbers kept after the shebang")

check.done()
