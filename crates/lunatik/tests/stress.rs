//! Sharing across threads, under load (issue 14, point 5): several OS
//! threads, each with its own main state, create runtimes and publish them
//! in `lunatik._ENV`, resume and stop the runtimes other threads published,
//! run bodies on `thread.run` threads, and read and write one shared rcu
//! table — for a bounded number of rounds. What must hold: no crash, no
//! error other than the documented refusals, no deadlock (every worker ends
//! within its guard), and no leak (the live-object counters are back where
//! they started once everything is dropped).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

const WORKERS: usize = 4;
const ROUNDS: i64 = 3000;

fn root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lunatik");
    p.canonicalize().unwrap_or(p)
}

/// One worker's script. `slot` names are shared by all workers, so the
/// runtimes one publishes are resumed and stopped by others while in use.
const WORKER: &str = r#"
local me, rounds = ...
local lunatik, rcu, thread, data = require("lunatik"), require("rcu"), require("thread"), require("data")
local env = lunatik._ENV
local shared = env.shared
local allowed = { "runtime is busy", "runtime stopped", "cannot resume dead runtime" }
local function check(ok, err)
  if ok then return end
  for _, a in ipairs(allowed) do
    if tostring(err):find(a, 1, true) then return end
  end
  error("worker " .. me .. ": unexpected error: " .. tostring(err), 0)
end
local seed = me * 7919
local function rand(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
local threads, made = {}, {}
for i = 1, rounds do
  local slot = "rt" .. rand(8)
  local rt = lunatik.runtime("scripts/echo")
  made[#made + 1] = rt
  check(pcall(rt.resume, rt, me, i))
  env[slot] = rt
  local other = env["rt" .. rand(8)]
  if other then
    check(pcall(other.resume, other, "from", me, data.new(8)))
    if rand(4) == 0 then check(pcall(other.stop, other)) end
  end
  shared["k" .. rand(64)] = i
  local v = shared["k" .. rand(64)]
  assert(v == nil or math.type(v) == "integer", "torn rcu value")
  if rand(16) == 0 then
    local w = lunatik.runtime("scripts/worker")
    threads[#threads + 1] = { thread.run(w, "worker", rcu.table()), w }
  end
  if #threads > 2 then
    local t = table.remove(threads, 1)
    assert(t[1]:stop() == true)
    t[2]:stop()
  end
end
for _, t in ipairs(threads) do assert(t[1]:stop() == true); t[2]:stop() end
-- Every state this worker made is closed by it, whoever else still holds
-- a handle (a handle replaced in _ENV is freed later, by the table's epochs).
for _, rt in ipairs(made) do rt:stop() end
return "done"
"#;

fn state() -> mlua::Lua {
    let lua = mlua::Lua::new();
    lunatik::register(&lua, lunatik::Config::new(root())).expect("register");
    lua
}

#[test]
fn threads_share_runtimes_and_tables_without_crash_deadlock_or_leak() {
    let before = lunatik::stats();
    let main = state();
    main.load("require('lunatik')._ENV.shared = require('rcu').table(64)")
        .exec()
        .expect("setup");
    let (tx, rx) = mpsc::channel();
    for me in 0..WORKERS {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(format!("stress-{me}"))
            .stack_size(16 << 20)
            .spawn(move || {
                let lua = state();
                let r = lua
                    .load(WORKER)
                    .set_name("=worker")
                    .call::<String>((me as i64 + 1, ROUNDS))
                    .map_err(|e| lunatik::message(&e));
                drop(lua);
                let _ = tx.send((me, r));
            })
            .expect("spawn");
    }
    drop(tx);
    for _ in 0..WORKERS {
        let (me, r) = rx
            .recv_timeout(Duration::from_secs(50))
            .expect("a worker deadlocked or hung");
        assert_eq!(r.as_deref(), Ok("done"), "worker {me}");
    }
    // Unpublish everything; the rcu table frees replaced values by epochs,
    // so dropping the last state that reaches it is what settles them.
    main.load(
        "local env = require('lunatik')._ENV\n\
         for i = 0, 7 do local rt = env['rt' .. i]; if rt then rt:stop() end; env['rt' .. i] = nil end\n\
         env.shared = nil",
    )
    .exec()
    .expect("cleanup");
    drop(main);
    let ok = (0..200).any(|_| {
        let now = lunatik::stats();
        let settled =
            now.states == before.states && now.threads == before.threads && now.data == before.data;
        if !settled {
            std::thread::sleep(Duration::from_millis(10));
        }
        settled
    });
    assert!(
        ok,
        "leaked: before {before:?}, after {:?}",
        lunatik::stats()
    );
}
