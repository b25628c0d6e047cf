-- §1-§2: creation, coroutine semantics, errors with file:line, isolation.
local lunatik = require("lunatik")

local rt = lunatik.runtime("scripts/add")
assert(tostring(rt):find("^runtime: "), tostring(rt))
assert(rt:resume(2, 3) == 5)
local ok, err = pcall(rt.resume, rt, 1, 1)
assert(not ok and err:find("cannot resume dead runtime"), err)

-- yields come back, resumes feed yields
local echo = lunatik.runtime("scripts/echo")
local a, b, c = echo:resume(1, "two", nil)
assert(a == 1 and b == "two" and c == nil)
assert(select("#", echo:resume()) == 0)
assert(echo:resume(true) == true)

-- errors propagate with the body's file:line and kill it
local be = lunatik.runtime("scripts/body_error")
assert(be:resume() == "first")
ok, err = pcall(be.resume, be)
assert(not ok and err == "scripts/body_error.lua:3: body failed", err)
ok, err = pcall(be.resume, be)
assert(not ok and err:find("cannot resume dead runtime"), err)

-- script errors at creation carry file:line
ok, err = pcall(lunatik.runtime, "scripts/load_error")
assert(not ok and err == "scripts/load_error.lua:2: load failed 1", err)

-- lookup under the root only
ok, err = pcall(lunatik.runtime, "scripts/missing")
assert(not ok and err:find("cannot open " .. test.root .. "/scripts/missing.lua", 1, true), err)
for _, bad in ipairs({ "/etc/passwd", "../conformance", "scripts/../../x", "", "a\0b" }) do
  ok, err = pcall(lunatik.runtime, bad)
  assert(not ok and err:find("invalid script name"), err)
end

-- context spellings
for _, ctx in ipairs({ true, false, "process", "softirq", "hardirq" }) do
  local r = lunatik.runtime("scripts/echo", ctx)
  assert(r:resume(ctx) == ctx)
  r:stop()
end
ok, err = pcall(lunatik.runtime, "scripts/echo", "irq")
assert(not ok and err:find("bad argument #2 to 'runtime'"), err)

-- isolation: a fresh state, no globals shared either way
marker = "main"
local ev = lunatik.runtime("scripts/eval")
assert(ev:resume("return marker") == nil)
assert(ev:resume("leaked = 1; return type(io), type(require('lunatik').runtime)") == "table")
assert(leaked == nil)

-- the script runs in the caller's thread, to completion, before runtime() returns
rt:stop(); echo:stop(); be:stop(); ev:stop()
