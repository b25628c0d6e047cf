-- `__index` of every cap (crates/lua-l4/src/cap.rs). A cap's methods are
-- the ones every cap has (`all["*"]`), then those of its type (`all[name]`),
-- both filled in by L4.lua; a method the type lacks is nil. A state without
-- the L4 package has no `*` table: there a cap is an opaque handle.
--
-- The type of a cap is asked of ned (`kind_of`) once and kept, weakly, by
-- cap in `kinds` (a weak-keyed table), so a method call is two or three
-- table reads and no call into Rust. L4.lua reads `kinds` too: a value
-- found there is a cap.

local all, kind_of, kinds = ...

return function(cap, key)
  local common = all["*"]
  if common == nil then return nil end
  local m = common[key]
  if m ~= nil then return m end
  local kind = kinds[cap]
  if kind == nil then
    kind = kind_of(cap)
    kinds[cap] = kind
  end
  local own = all[kind]
  if own == nil then return nil end
  return own[key]
end
