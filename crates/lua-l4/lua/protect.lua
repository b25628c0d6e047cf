-- How ned runs the boot script, `-e` statements and exit handlers: as a
-- protected call whose message handler turns an error table with a `msg`
-- field (the `{msg = ..., code = ...}` of a failing `create`, spec §3) into
-- `<msg> (code <code>)`, so an uncaught one never prints as `table: 0x...`.
-- Every other error value passes unchanged.
local xpcall, error, type, tostring, rawget = xpcall, error, type, tostring, rawget

local function render(e)
  if type(e) ~= "table" then return e end
  local msg, code = rawget(e, "msg"), rawget(e, "code")
  if msg == nil then return e end
  if code == nil then return tostring(msg) end
  return tostring(msg) .. " (code " .. tostring(code) .. ")"
end

local function call(f, ...)
  local ok, e = xpcall(f, render, ...)
  if not ok then error(e, 0) end
end

return call, render
