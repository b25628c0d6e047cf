-- ned's `package.searchers` entry for the rom directory (src/rom.rs):
-- `search` is the native, which answers `true, loader, file` or `false,
-- message`; the message is raised as a plain string, as Lua's own
-- searchers do (an error raised from Rust would reach `pcall` as a
-- userdata, which scripts cannot `:find` in).
local search, error = ...
return function(name)
  local ok, a, b = search(name)
  if not ok then error(a, 0) end
  return a, b
end
