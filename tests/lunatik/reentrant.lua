-- §2: re-entrant resume raises 'runtime is busy' instead of deadlocking.
local lunatik = require("lunatik")
local a = lunatik.runtime("scripts/eval")
local b = lunatik.runtime("scripts/eval")

-- A -> A
local ok, err = a:resume("local self = ...; return pcall(self.resume, self, 'return 1')", a)
assert(ok == false and err:find("runtime is busy"), tostring(err))

-- A -> B -> A
ok, err = a:resume([[
  local a, b = ...
  return pcall(b.resume, b, "local a = ...; return a:resume('return 1')", a)
]], a, b)
assert(ok == false and err:find("runtime is busy"), tostring(err))

-- stop from inside itself is busy too
ok, err = a:resume("local self = ...; return pcall(self.stop, self)", a)
assert(ok == false and err:find("runtime is busy"), tostring(err))

-- A stays usable; B's body died of the unprotected error, as any error kills it
assert(a:resume("return 'a'") == "a")
ok, err = pcall(b.resume, b, "return 'b'")
assert(not ok and err:find("cannot resume dead runtime"), err)
a:stop(); b:stop()
