-- `__index` of every cap (crates/lua-l4/src/cap.rs). A cap's methods are
-- in the table of its type (`all[name]`, which L4.lua fills in and gives the
-- methods every cap has too), else in the common one (`all["*"]`); a method
-- the type lacks is nil. A state without the L4 package has no `*` table:
-- there a cap is an opaque handle.
--
-- A cap's type is asked of ned (`kind_of`) once, and its table kept, weakly,
-- by cap in `kinds`, so a method call is two table reads and no call into
-- Rust. L4.lua reads `kinds` too: a value found there is a cap.

local all, kind_of, kinds = ...

return function(cap, key)
  local t = kinds[cap]
  if t == nil then
    local common = all["*"]
    if common == nil then return nil end
    t = all[kind_of(cap)] or common
    kinds[cap] = t
  end
  return t[key]
end
