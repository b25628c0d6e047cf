//! Lunatik benchmarks, each next to its baseline in the same run:
//! (a) create+stop a runtime vs `Lua::new()` + load + drop;
//! (b) resume/yield round trip between two runtimes vs a coroutine resume
//!     inside one state;
//! (c) rcu reads from Lua in 1 vs 2 threads, and vs a `Mutex<HashMap>`
//!     table under a concurrent writer;
//! (d) resident memory per idle runtime (printed, from /proc/self/statm).
//! Run: `CARGO_TARGET_DIR=/work/target-lunatik cargo bench -p ned-bench --bench lunatik`.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mlua::{Function, Lua, UserData, UserDataMethods, Value};

const SCRIPTS: &[(&str, &str)] = &[
    ("one", "return function(...) return ... end"),
    (
        "pinger",
        "return function(peer, n) while true do for i = 1, n do peer:resume(i) end peer, n = coroutine.yield(n) end end",
    ),
    (
        "ponger",
        "return function(x) while true do x = coroutine.yield(x) end end",
    ),
    (
        "reader",
        "return function(t, n) local s = 0 for i = 1, n do if t.key then s = s + 1 end end return s end",
    ),
];

fn root() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lunatik-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    for (name, src) in SCRIPTS {
        std::fs::write(dir.join(format!("{name}.lua")), src).expect("bench script");
    }
    dir
}

fn main_state(root: &PathBuf) -> Lua {
    let lua = Lua::new();
    lunatik::register(&lua, lunatik::Config::new(root)).expect("register");
    lua
}

fn create_stop(c: &mut Criterion, root: &PathBuf) {
    let lua = main_state(root);
    let f: Function = lua
        .load("local lunatik = require('lunatik'); return function() lunatik.runtime('one'):stop() end")
        .eval()
        .expect("create fn");
    let mut g = c.benchmark_group("a_create_stop");
    g.bench_function("baseline_lua_new_load_drop", |b| {
        b.iter(|| {
            let l = Lua::new();
            l.load(SCRIPTS[0].1).exec().expect("load");
            drop(black_box(l));
        })
    });
    g.bench_function("runtime_create_stop", |b| {
        b.iter(|| f.call::<()>(()).expect("create"))
    });
    g.finish();
}

fn round_trip(c: &mut Criterion, root: &PathBuf) {
    let lua = main_state(root);
    let f: Function = lua
        .load(
            "local lunatik = require('lunatik')
             local ponger = lunatik.runtime('ponger')
             local pinger = lunatik.runtime('pinger')
             return function(n) return pinger:resume(ponger, n) end",
        )
        .eval()
        .expect("setup");
    let co: Function = lua
        .load(
            "local co = coroutine.wrap(function(x) while true do x = coroutine.yield(x) end end)
             return function(n) for i = 1, n do co(i) end end",
        )
        .eval()
        .expect("co");
    let mut g = c.benchmark_group("b_round_trip");
    // One call runs `n` round trips; criterion's time is per call, so report
    // per round trip by iterating the inner loop once per criterion iteration.
    g.bench_function("baseline_coroutine_in_one_state", |b| {
        b.iter(|| co.call::<()>(1).expect("co"))
    });
    g.bench_function("runtime_to_runtime", |b| {
        b.iter_custom(|iters| {
            // a new pinger per batch: its body returns after `iters` trips
            let t = Instant::now();
            f.call::<Value>(iters as i64).expect("trip");
            t.elapsed()
        })
    });
    g.finish();
    // pinger's body is dead after the first batch; recreate per batch above
}

/// Baseline table: a `Mutex<HashMap>` behind a userdata `__index`.
#[derive(Clone)]
struct LockedTable(Arc<Mutex<HashMap<String, i64>>>);

impl UserData for LockedTable {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(mlua::MetaMethod::Index, |_, this, key: mlua::LuaString| {
            let k = key.to_str()?;
            Ok(this.0.lock().map(|g| g.get(&*k).copied()).unwrap_or(None))
        });
    }
}

const READS: i64 = 200_000;

fn reads_per_sec(root: &PathBuf, threads: usize, locked: bool, writer: bool) -> f64 {
    let lua = main_state(root);
    let t: Value = lua
        .load("local t = require('rcu').table(); t.key = 1; return t")
        .eval()
        .expect("rcu");
    let rcu = match &t {
        Value::UserData(ud) => lunatik::extract(ud).expect("rcu object"),
        _ => unreachable!(),
    };
    let locked_t = LockedTable(Arc::new(Mutex::new(HashMap::from([(
        "key".to_string(),
        1,
    )]))));
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer.then(|| {
        let stop = stop.clone();
        let rcu = rcu.clone();
        let lt = locked_t.clone();
        std::thread::spawn(move || {
            let mut i = 0i64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                if locked {
                    if let Ok(mut g) = lt.0.lock() {
                        g.insert("key".into(), i);
                        g.insert(format!("other{}", i % 16), i);
                    }
                } else if let Some(t) = rcu.downcast::<lunatik::lua::rcu::RcuTable>() {
                    t.map().set(b"key", Some(lunatik::Shared::Int(i)));
                    t.map().set(
                        format!("other{}", i % 16).as_bytes(),
                        Some(lunatik::Shared::Int(i)),
                    );
                }
            }
        })
    });
    let start = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let rcu = rcu.clone();
            let lt = locked_t.clone();
            let root = root.clone();
            std::thread::spawn(move || {
                let l = Lua::new();
                lunatik::register(&l, lunatik::Config::new(&root)).expect("register");
                let f: Function = l
                    .load("return function(t, n) local s = 0 for i = 1, n do if t.key then s = s + 1 end end return s end")
                    .eval()
                    .expect("reader");
                let t = if locked {
                    Value::UserData(l.create_userdata(lt).expect("ud"))
                } else {
                    lunatik::push_object(&l, rcu.downcast::<lunatik::lua::rcu::RcuTable>().expect("rcu")).expect("push")
                };
                f.call::<i64>((t, READS)).expect("reads")
            })
        })
        .collect();
    for h in hs {
        black_box(h.join().expect("reader"));
    }
    let el = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(w) = w {
        let _ = w.join();
    }
    (READS as f64 * threads as f64) / el.as_secs_f64()
}

fn rcu_reads(_c: &mut Criterion, root: &PathBuf) {
    let best = |th, locked, writer| {
        (0..5)
            .map(|_| reads_per_sec(root, th, locked, writer))
            .fold(0.0, f64::max)
    };
    let one = best(1, false, false);
    let two = best(2, false, false);
    let rcu_w = best(2, false, true);
    let mutex_w = best(2, true, true);
    println!(
        "c_rcu_reads: 1 thread {:.1} M reads/s, 2 threads {:.1} M reads/s (scaling {:.2}x)",
        one / 1e6,
        two / 1e6,
        two / one
    );
    println!(
        "c_rcu_reads under a writer, 2 readers: rcu {:.1} M/s, Mutex<HashMap> {:.1} M/s ({:.2}x)",
        rcu_w / 1e6,
        mutex_w / 1e6,
        rcu_w / mutex_w
    );
}

fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(0)
        * 4096
}

fn memory(_c: &mut Criterion, root: &PathBuf) {
    let lua = main_state(root);
    let f: Function = lua
        .load("local lunatik = require('lunatik'); return function(n) local t = {} for i = 1, n do t[i] = lunatik.runtime('one') end return t end")
        .eval()
        .expect("mem fn");
    let n = 1000;
    let before = rss();
    let keep: Value = f.call(n).expect("runtimes");
    let after = rss();
    println!(
        "d_memory: {} idle runtimes, {:.1} KiB resident each",
        n,
        (after.saturating_sub(before)) as f64 / n as f64 / 1024.0
    );
    drop(keep);
}

fn benches(c: &mut Criterion) {
    let root = root();
    memory(c, &root);
    create_stop(c, &root);
    round_trip(c, &root);
    rcu_reads(c, &root);
    let _ = std::fs::remove_dir_all(&root);
}

criterion_group! {
    name = lunatik_benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = benches
}
criterion_main!(lunatik_benches);
