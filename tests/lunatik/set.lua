-- The `set` module: plain and labeled sets, upstream's API; shareable and
-- usable in non-sleepable runtimes; nothing leaks.
local set, lunatik = require("set"), require("lunatik")
collectgarbage(); collectgarbage()
local before = test.stats().sets

-- Plain sets: exact membership, the input sorted in place, duplicates kept.
local words = { "delta", "alpha", "charlie", "bravo", "alpha" }
local s = set.new(words)
assert(#s == 5, #s)
assert(words[1] == "alpha" and words[2] == "alpha" and words[5] == "delta", table.concat(words, ","))
for _, w in ipairs({ "alpha", "bravo", "charlie", "delta" }) do assert(s:has(w), w) end
for _, w in ipairs({ "", "alph", "alphaa", "echo" }) do assert(not s:has(w), w) end
assert(set.new({ "" }):has(""))
local empty = set.new({})
assert(#empty == 0 and not empty:has("x"))
assert(tostring(s):find("^set: 0x%x+ %(5 members%)$"), tostring(s))

local ok, err = pcall(set.new, { "ok", 42 })
assert(not ok and err:find("bad argument #1 to 'new' (members must be strings)", 1, true), err)
ok, err = pcall(set.new, { ["a.b"] = 1 })
assert(not ok and err:find("bad argument #1 to 'new' (not a sequence)", 1, true), err)
ok, err = pcall(set.new, { "a", nil, "c" })
assert(not ok and err:find("not a sequence", 1, true), err)
ok, err = pcall(set.new, "abc")
assert(not ok and err:find("bad argument #1 to 'new' (table expected, got string)", 1, true), err)
ok, err = pcall(s.has)
assert(not ok and err:find("bad self to 'has'", 1, true), err)

-- Labeled sets: the OR of the flags of every dot-suffix that is a member.
local cat = set.labeled({ ["a.b.c"] = 1, ["b.c"] = 2, ["c"] = 4 })
assert(#cat == 3)
assert(cat:match("a.b.c") == 7 and cat:match("x.a.b.c") == 7)
assert(cat:match("b.c") == 6 and cat:match("z.c") == 4 and cat:match("c") == 4)
assert(cat:match("nope") == 0 and cat:match("") == 0)
assert(set.labeled({ [""] = 5 }):match("a.") == 5)
assert(set.labeled({ [""] = 5 }):match("a") == 0)
for _, flag in ipairs({ 1, 255, 65536, 4294967295 }) do
  assert(set.labeled({ k = flag }):match("k") == flag, flag)
end
for _, bad in ipairs({ 0, -1, 4294967296, 1.5, "1" }) do
  ok, err = pcall(set.labeled, { k = bad })
  assert(not ok and err:find("flags must be integers in [1, 2^32)", 1, true), tostring(bad) .. ": " .. tostring(err))
end
ok, err = pcall(set.labeled, { [42] = 1 })
assert(not ok and err:find("members must be strings", 1, true), err)

-- Shareable: a non-sleepable runtime gets the same set through resume and
-- queries it.
local rt = lunatik.runtime("scripts/set_reader", false)
assert(rt:resume(s, "charlie") == true)
assert(rt:resume(s, "zulu") == false)
assert(rt:resume(cat, "x.b.c") == 6)
rt:stop()

s, cat, empty, rt = nil, nil, nil, nil
collectgarbage(); collectgarbage()
assert(test.stats().sets == before, test.stats().sets .. " sets left, " .. before .. " before")

-- ... and through lunatik._ENV (not counted above: a value replaced in an
-- rcu table is freed by the table's epochs, later).
rt = lunatik.runtime("scripts/set_reader", false)
lunatik._ENV.blocked = set.new({ "ads.net", "evil.com" })
assert(rt:resume(nil, "evil.com") == true)
assert(rt:resume(nil, "good.org") == false)
lunatik._ENV.blocked = nil
rt:stop()
