-- runtimes/counter.lua: the task-exit counter of examples/lunatik.lua.
--
-- It runs as a non-sleepable runtime: ned resumes it inline from exit
-- handlers, on its event loop, under an instruction budget. Its state (the
-- `exits` table) is its own; callers only see what it yields.
--
--   resume("exit", name, code) -> how many exits it has seen
--   resume("summary")          -> a report, one line per outcome
local exits = {}

local function summary()
  local ok, failed = {}, {}
  for _, e in ipairs(exits) do
    if e.code == 0 then
      ok[#ok + 1] = e.name
    else
      failed[#failed + 1] = string.format("%s (%s)", e.name, tostring(e.code))
    end
  end
  table.sort(ok)
  table.sort(failed)
  return string.format("counter: %d exits, %d ok, %d failed\ncounter: ok: %s\ncounter: failed: %s",
    #exits, #ok, #failed, table.concat(ok, " "), table.concat(failed, " "))
end

local function serve(request, name, code)
  local reply
  if request == "exit" then
    exits[#exits + 1] = { name = name, code = code }
    reply = #exits
  elseif request == "summary" then
    reply = summary()
  else
    error("unknown request " .. tostring(request))
  end
  return serve(coroutine.yield(reply))
end

return serve
