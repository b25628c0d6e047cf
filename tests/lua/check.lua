-- Assertions for the conformance scripts in this directory; each script
-- ends with `check.done()`, and the Rust runner (crates/ned/tests/
-- integration/lua_scripts.rs) wants that line and no `lua error`.
local check = {}

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  return tostring(v)
end

function check.eq(got, want, what)
  if got ~= want then
    error((what or "value") .. ": expected " .. show(want) .. ", got " .. show(got), 2)
  end
end

function check.truthy(v, what)
  if not v then error((what or "condition") .. " does not hold", 2) end
end

-- Calls f(...) and wants a Lua error whose text matches `pattern` (plain
-- find) when given. Returns the error value.
function check.raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  if ok then
    error("expected an error" .. (pattern and (" matching " .. show(pattern)) or ""), 2)
  end
  if pattern then
    local text = type(err) == "table" and tostring(err.msg) or tostring(err)
    if not text:find(pattern, 1, true) then
      error("error " .. show(text) .. " does not contain " .. show(pattern), 2)
    end
  end
  return err
end

function check.done()
  print("all checks passed")
end

return check
