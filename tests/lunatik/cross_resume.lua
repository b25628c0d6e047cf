-- §2: two OS threads, each inside its own sleepable runtime, resume each
-- other's runtime. Waiting would deadlock both; the thread that would close
-- the cycle gets `runtime is busy`, the other then gets in.
local lunatik, thread, rcu, completion = require("lunatik"), require("thread"), require("rcu"), require("completion")
for round = 1, 20 do
  local a, b = lunatik.runtime("scripts/crosser"), lunatik.runtime("scripts/crosser")
  local ca, cb, results = completion.new(), completion.new(), rcu.table()
  local ta = thread.run(a, "cross-a", "a", b, ca, cb, results)
  local tb = thread.run(b, "cross-b", "b", a, cb, ca, results)
  local deadline = os.time() + 20
  while not (results.a and results.b) do
    assert(os.time() < deadline, "round " .. round .. ": deadlock (a=" .. tostring(results.a) .. ", b=" .. tostring(results.b) .. ")")
    thread.sleep(1)
  end
  local busy, ok = 0, 0
  for _, k in ipairs({ "a", "b" }) do
    if results[k] == "ok" then ok = ok + 1
    elseif tostring(results[k]):find("runtime is busy", 1, true) then busy = busy + 1
    else error("round " .. round .. ": " .. k .. ": " .. tostring(results[k])) end
  end
  assert(busy == 1 and ok == 1, "round " .. round .. ": busy " .. busy .. ", ok " .. ok)
  ta:stop(); tb:stop()
  a:stop(); b:stop()
end
