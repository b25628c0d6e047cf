-- §6/§9: concurrent writers and readers on one rcu table from several threads.
local lunatik, thread, rcu = require("lunatik"), require("thread"), require("rcu")
local t = rcu.table(32)
local threads, runtimes = {}, {}
local results = rcu.table()
for i = 1, 2 do
  local w = lunatik.runtime("scripts/rcu_writer")
  runtimes[#runtimes + 1] = w
  threads[#threads + 1] = thread.run(w, "writer" .. i, t, i, 200)
end
for i = 1, 3 do
  local r = lunatik.runtime("scripts/rcu_reader")
  runtimes[#runtimes + 1] = r
  threads[#threads + 1] = thread.run(r, "reader" .. i, t, 200, rcu.table())
end
for _, th in ipairs(threads) do
  local ok, err = th:stop()
  assert(ok, err)
end
-- every key ends with a whole value from one of the writers (or deleted)
for i = 0, 63 do
  local v = t["k" .. i]
  assert(v == nil or v:match("^[12]:" .. i .. "$"), v)
end
for _, r in ipairs(runtimes) do r:stop() end
