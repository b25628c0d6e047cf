//! Lunatik hooks on ned's loop (issue 14, point 3; Lunatik spec §9): a
//! non-sleepable runtime sees every task line and keeps, rewrites or drops
//! it; a timer hook runs a runtime periodically. Hooks that loop, fail,
//! stop themselves or die are removed with a logged line, and ned goes on
//! printing every line.

use crate::util::{Sandbox, path_str};

/// A task printing `lines` (one per word), as task `tag`.
fn task(tag: &str, words: &str) -> String {
    format!(
        "L4.default_loader:startv({{ log = {{ '{tag}' }} }}, '/bin/sh', '-c', 'for w in {words}; do echo $w; done')\n"
    )
}

#[test]
fn a_hook_rewrites_and_drops_lines() {
    let sb = Sandbox::new();
    sb.file(
        "shout.lua",
        "return function(tag, stream, line)\n\
           while true do\n\
             local out\n\
             if line:find('drop', 1, true) then out = nil\n\
             elseif line:find('shout', 1, true) then out = line:upper()\n\
             else out = line end\n\
             tag, stream, line = coroutine.yield(out)\n\
           end\n\
         end\n",
    );
    let out = sb.wait_and_exit(&format!(
        "local L4, lunatik = require('L4'), require('lunatik')\n\
         local id = L4.log_hook(lunatik.runtime('shout', 'softirq'))\n\
         assert(math.type(id) == 'integer')\n{}",
        task("t", "keep drop-me shout-this last")
    ));
    out.ok().no_lua_error();
    assert_eq!(out.log("t"), ["keep", "SHOUT-THIS", "last"], "{out}");
}

#[test]
fn failing_hooks_are_removed_and_every_line_still_printed() {
    let sb = Sandbox::new();
    sb.file("spin.lua", "return function() while true do end end\n");
    sb.file("fails.lua", "return function() error('bad hook') end\n");
    sb.file(
        "table.lua",
        "return function() while true do coroutine.yield({}) end end\n",
    );
    sb.file(
        "selfstop.lua",
        "local lunatik = require('lunatik')\n\
         return function() lunatik._ENV.selfstop:stop() end\n",
    );
    sb.file(
        "once.lua",
        "return function(tag, stream, line) return line end\n",
    );
    let out = sb.wait_and_exit(&format!(
        "local L4, lunatik = require('L4'), require('lunatik')\n\
         for _, name in ipairs({{ 'spin', 'fails', 'table', 'once' }}) do\n\
           L4.log_hook(lunatik.runtime(name, 'softirq'))\n\
         end\n\
         lunatik._ENV.selfstop = lunatik.runtime('selfstop', 'softirq')\n\
         L4.log_hook(lunatik._ENV.selfstop)\n\
         local ok, err = pcall(L4.log_hook, lunatik.runtime('once'))\n\
         assert(not ok and err:find('needs a non%-sleepable runtime'), err)\n\
         ok, err = pcall(L4.log_hook, 42)\n\
         assert(not ok and err:find('runtime expected'), err)\n{}",
        task("t", "one two three")
    ));
    out.ok().no_lua_error();
    assert_eq!(out.log("t"), ["one", "two", "three"], "{out}");
    for (name, why) in [
        ("'spin'", "instruction budget"),
        ("'fails'", "bad hook"),
        ("'table'", "cannot be shared"),
        ("'selfstop'", "runtime is busy"),
        ("'once'", "cannot resume dead runtime"),
    ] {
        let line = format!("ned: log hook {name} removed:");
        assert!(
            out.stderr
                .lines()
                .any(|l| l.starts_with(&line) && l.contains(why)),
            "no removal of {name} ({why}):\n{out}"
        );
    }
}

#[test]
fn timer_hooks_run_periodically_and_go_when_they_fail() {
    let sb = Sandbox::new();
    sb.file(
        "tick.lua",
        "local lunatik = require('lunatik')\n\
         return function() while true do\n\
           lunatik._ENV.ticks = (lunatik._ENV.ticks or 0) + 1\n\
           coroutine.yield()\n\
         end end\n",
    );
    sb.file("fails.lua", "return function() error('tick failed') end\n");
    let out = sb.wait_and_exit(
        "local L4, lunatik = require('L4'), require('lunatik')\n\
         local t = L4.timer_hook(lunatik.runtime('tick', 'softirq'), 10)\n\
         local bad = L4.timer_hook(lunatik.runtime('fails', 'softirq'), 10)\n\
         L4.timer(300, function()\n\
           t:cancel()\n\
           print('ticks', lunatik._ENV.ticks >= 5, 'bad active', bad:active())\n\
         end)\n\
         local w = L4.default_loader:startv({ log = { 'w' } }, '/bin/sleep', '0.5')\n",
    );
    out.ok()
        .no_lua_error()
        .stdout_has("ticks\ttrue\tbad active\tfalse");
    out.stderr_has("ned: timer hook removed:");
    out.stderr_has("tick failed");
}

#[test]
fn a_batch_hook_answers_for_every_line_of_a_read() {
    let sb = Sandbox::new();
    sb.file(
        "batch.lua",
        "local lunatik = require('lunatik')\n\
         return function(tag, stream, text)\n\
           while true do\n\
             lunatik._ENV.calls = (lunatik._ENV.calls or 0) + 1\n\
             assert(text:sub(-1) == '\\n', 'complete lines only')\n\
             text = text:gsub('[^\\n]*secret[^\\n]*\\n', ''):upper()\n\
             tag, stream, text = coroutine.yield(text)\n\
           end\n\
         end\n",
    );
    let out = sb.wait_and_exit(
        "local L4, lunatik = require('L4'), require('lunatik')\n\
         L4.log_hook(lunatik.runtime('batch', 'softirq'), { batch = true })\n\
         for _, bad in ipairs({ { bulk = true }, { batch = 1 }, 7 }) do\n\
           local ok, err = pcall(L4.log_hook, lunatik.runtime('batch', 'softirq'), bad)\n\
           assert(not ok and err:find(\"bad argument #2 to 'log_hook'\", 1, true), tostring(err))\n\
         end\n\
         local t = L4.default_loader:startv({ log = { 't' } }, '/bin/sh', '-c',\n\
           'for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; done; echo a secret; echo last')\n\
         t:exit_handler(function() print('calls', lunatik._ENV.calls < 12) end)\n",
    );
    out.ok().no_lua_error().stdout_has("calls\ttrue");
    let want: Vec<String> = (1..=10)
        .map(|i| format!("LINE{i}"))
        .chain(["LAST".to_owned()])
        .collect();
    assert_eq!(out.log("t"), want, "{out}");
}

/// The `shared` store (examples/shared) against hostile peers: one sends
/// garbage, one connects and vanishes, one sends a request far over the
/// size a session reads; each gets an error or is dropped, and a
/// well-behaved client after them is still served (issue 14, bad input).
#[test]
fn the_shared_store_survives_garbage_and_vanishing_peers() {
    let sb = Sandbox::new();
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    sb.exe("client.py", HOSTILE_CLIENT);
    let boot = sb.file(
        "boot.lua",
            "local L4, lunatik, thread = require('L4'), require('lunatik'), require('thread')\n\
             local ch = L4.default_loader:new_channel()\n\
             local daemon = lunatik.runtime('shared/daemon')\n\
             local server = thread.run(daemon, 'shared', ch:svr())\n\
             local function run(mode)\n\
               local t = L4.default_loader:startv({ caps = { store = ch }, log = { mode } }, 'rom/client.py', mode)\n\
               assert(t:wait() == 0, mode)\n\
             end\n\
             for _, m in ipairs({ 'vanish', 'garbage', 'huge', 'vanish', 'good' }) do run(m) end\n\
             server:stop(); daemon:stop()\n\
             print('store stopped')\n",
    );
    let out = sb.ned(&[
        "--wait-and-exit",
        "--lua-root",
        path_str(&examples),
        path_str(&boot),
    ]);
    out.ok().no_lua_error().stdout_has("store stopped");
    assert_eq!(
        out.log("garbage"),
        ["garbage -> error: bad request"],
        "{out}"
    );
    assert_eq!(out.log("good"), ["good -> fine"], "{out}");
    assert_eq!(out.log("huge").len(), 1, "{out}");
}

/// A task using the shared store through its `store` cap, as argv[1] says:
/// vanish at once, send garbage, send a huge request, or behave.
const HOSTILE_CLIENT: &str = r#"#!/usr/bin/python3
import os, socket, sys
names = os.environ['LISTEN_FDNAMES'].split(':')
c = socket.socket(fileno=3 + names.index('store'))
mode = sys.argv[1]
if mode == 'vanish':
    sys.exit(0)
if mode == 'garbage':
    c.send(b'\x00\xff!!\n')
    print('garbage ->', c.recv(1024).decode().strip(), flush=True)
if mode == 'huge':
    c.send(b'k=' + b'v' * 60000 + b'\n')
    print('huge ->', c.recv(1024).decode().strip(), flush=True)
if mode == 'good':
    c.send(b'k=fine\n')
    c.recv(64)
    c.send(b'k\n')
    print('good ->', c.recv(1024).decode().strip(), flush=True)
"#;
