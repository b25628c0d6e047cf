//! Table-driven bad-input test: every API function fed wrong types, nil,
//! huge sizes and absurd names must raise a Lua error (with the expected
//! text), never panic, and leave the state usable.

use mlua::Lua;

const CASES: &[(&str, &str)] = &[
    (
        "require('lunatik').runtime()",
        "bad argument #1 to 'runtime' (string expected, got no value)",
    ),
    (
        "require('lunatik').runtime(nil)",
        "bad argument #1 to 'runtime'",
    ),
    (
        "require('lunatik').runtime({})",
        "bad argument #1 to 'runtime' (string expected, got table)",
    ),
    ("require('lunatik').runtime('/abs')", "invalid script name"),
    (
        "require('lunatik').runtime('../../etc/passwd')",
        "invalid script name",
    ),
    (
        "require('lunatik').runtime(string.rep('a', 100000))",
        "invalid script name",
    ),
    ("require('lunatik').runtime('nope')", "cannot open"),
    (
        "require('lunatik').runtime('x', 42)",
        "bad argument #2 to 'runtime' (boolean expected, got number)",
    ),
    (
        "require('lunatik').runtime('x', true, 5)",
        "bad argument #3 to 'runtime'",
    ),
    (
        "require('lunatik').runtime('x', true, {memory = -1})",
        "'memory' must be a positive integer",
    ),
    (
        "local rt = require('lunatik').runtime('echo'); rt.resume(1)",
        "bad self to 'resume'",
    ),
    (
        "local rt = require('lunatik').runtime('echo'); rt.stop(nil)",
        "bad self to 'stop'",
    ),
    (
        "local rt = require('lunatik').runtime('echo'); rt:resume(setmetatable({}, {}))",
        "table cannot be shared",
    ),
    (
        "require('rcu').table('x')",
        "bad argument #1 to 'table' (number expected, got string)",
    ),
    ("require('rcu').table(1 << 58)", "not enough memory"),
    ("require('rcu').table(-5)", "bad argument #1 to 'table'"),
    (
        "require('rcu').table(1.5)",
        "number has no integer representation",
    ),
    ("require('rcu').map()", "bad argument #1 to 'map'"),
    (
        "require('rcu').map(require('rcu').table())",
        "bad argument #2 to 'map' (function expected, got no value)",
    ),
    (
        "local t = require('rcu').table(); t[nil] = 1",
        "invalid rcu key",
    ),
    (
        "local t = require('rcu').table(); return t[print]",
        "invalid rcu key",
    ),
    (
        "local t = require('rcu').table(); t.x = coroutine.create(print)",
        "thread cannot be shared",
    ),
    ("require('data').new(-1)", "bad argument #1 to 'new'"),
    ("require('data').new(1 << 58)", "bad argument #1 to 'new'"),
    (
        "require('data').new()",
        "bad argument #1 to 'new' (number expected, got no value)",
    ),
    (
        "require('data').new(4, 4)",
        "bad argument #2 to 'new' (string expected, got number)",
    ),
    (
        "local d = require('data').new(4); d:getuint32(1)",
        "out of bounds",
    ),
    (
        "local d = require('data').new(4); d:setbyte(math.maxinteger, 1)",
        "out of bounds",
    ),
    (
        "local d = require('data').new(4); d:setbyte(0)",
        "bad argument #2 to 'setbyte'",
    ),
    (
        "local d = require('data').new(4); d:getstring(0, -1)",
        "out of bounds",
    ),
    (
        "local d = require('data').new(4); d:resize(-1)",
        "bad argument #1 to 'resize'",
    ),
    (
        "local d = require('data').new(4); d:resize(1 << 60)",
        "bad argument #1 to 'resize'",
    ),
    (
        "local d = require('data').new(4); d:checksum(9)",
        "out of bounds",
    ),
    ("require('fifo').new()", "bad argument #1 to 'new'"),
    ("require('fifo').new(1 << 58)", "bad argument #1 to 'new'"),
    (
        "local f = require('fifo').new(2); f:push({})",
        "bad argument #1 to 'push' (string expected, got table)",
    ),
    (
        "local f = require('fifo').new(2); f:pop(-1)",
        "bad argument #1 to 'pop'",
    ),
    (
        "local f = require('fifo').new(2); f:pop()",
        "bad argument #1 to 'pop'",
    ),
    (
        "local c = require('completion').new(); c:wait('soon')",
        "bad argument #1 to 'wait'",
    ),
    ("require('completion').new(7)", "bad argument #1 to 'new'"),
    (
        "require('completion').new().complete()",
        "bad self to 'complete'",
    ),
    (
        "require('thread').run()",
        "bad argument #1 to 'run' (runtime expected, got no value)",
    ),
    (
        "require('thread').run(require('rcu').table(), 'x')",
        "bad argument #1 to 'run' (runtime expected, got userdata)",
    ),
    (
        "require('thread').run(require('lunatik').runtime('echo'))",
        "bad argument #2 to 'run'",
    ),
    (
        "require('thread').run(require('lunatik').runtime('echo'), 'a\\0b')",
        "bad argument #2 to 'run'",
    ),
    (
        "require('thread').run(require('lunatik').runtime('echo', false), 'x')",
        "sleepable runtime expected",
    ),
    (
        "require('thread').run(require('lunatik').runtime('echo'), 'x', {})",
        "bad argument #3 to 'run' (table cannot be shared)",
    ),
    ("require('thread').sleep(-1)", "bad argument #1 to 'sleep'"),
    ("require('thread').sleep('x')", "bad argument #1 to 'sleep'"),
];

#[test]
fn bad_input_raises_and_state_survives() -> mlua::Result<()> {
    let dir = std::env::temp_dir().join(format!("lunatik-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(mlua::Error::external)?;
    std::fs::write(dir.join("echo.lua"), "return function(...) return ... end")
        .map_err(mlua::Error::external)?;
    let lua = Lua::new();
    lunatik::register(&lua, lunatik::Config::new(&dir))?;
    let mut failures = Vec::new();
    for (code, want) in CASES {
        let r = lua.load(*code).set_name("=case").exec();
        match r {
            Ok(()) => failures.push(format!("{code}: no error")),
            Err(e) => {
                let msg = lunatik::message(&e);
                if !msg.contains(want) {
                    failures.push(format!("{code}:\n  want {want:?}\n  got  {msg:?}"));
                }
            }
        }
        // still usable
        let ok: i64 = lua.load("return require('rcu').table() and 1 + 1").eval()?;
        assert_eq!(ok, 2);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
