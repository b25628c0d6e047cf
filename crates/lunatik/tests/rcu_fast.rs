//! The raw `__index` of rcu tables: what it serves itself and what it hands
//! to the generic path must read the same, and errors keep the caller's
//! position.

#[test]
fn raw_index_matches_generic_reads() {
    let lua = mlua::Lua::new();
    lunatik::register(&lua, lunatik::Config::new(".")).expect("register");
    lua.load(
        r#"
        local rcu = require("rcu")
        local t = rcu.table(2)
        local long = string.rep("x", 1000)
        local inner = rcu.table()
        t.s, t.long, t.inner, t.b, t.f, t.i = "short", long, inner, false, 0.5, -7
        t[-12], t[0], t[math.mininteger], t[1.5] = "neg", "zero", "min", "float"
        assert(t.s == "short" and t.long == long and t.inner == inner)
        assert(t.b == false and t.f == 0.5 and t.i == -7 and t.missing == nil)
        assert(t[-12] == "neg" and t["-12"] == "neg" and t[0] == "zero")
        assert(t[math.mininteger] == "min" and t[tostring(math.mininteger)] == "min")
        assert(t[1.5] == "float" and t["1.5"] == "float")
        local ok, err = pcall(function() return t[true] end)
        assert(not ok and err:find("^chunk:%d+: invalid rcu key %(string expected, got boolean%)"), err)
        ok, err = pcall(function() return t[nil] end)
        assert(not ok and err:find("^chunk:%d+: invalid rcu key"), err)
        -- handles made in other ways still read (through the generic path)
        assert(require("lunatik")._ENV.nothing == nil)
        for i = 1, 1000 do t["k" .. i] = i end
        collectgarbage()
        for i = 1, 1000 do assert(t["k" .. i] == i) end
        "#,
    )
    .set_name("=chunk")
    .exec()
    .expect("script");
}
