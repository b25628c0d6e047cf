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
use std::sync::{Arc, Barrier, Mutex};
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
    // As ned configures lunatik: with an interrupt check, every runtime gets
    // the hook and the pcall guard.
    let ned_like = Lua::new();
    let config = lunatik::Config {
        interrupt: Some(lunatik::Interrupt(Arc::new(|| false))),
        ..lunatik::Config::new(root)
    };
    lunatik::register(&ned_like, config).expect("register");
    let g_ned: Function = ned_like
        .load("local lunatik = require('lunatik'); return function() lunatik.runtime('one'):stop() end")
        .eval()
        .expect("create fn");
    g.bench_function("runtime_create_stop_with_interrupt", |b| {
        b.iter(|| g_ned.call::<()>(()).expect("create"))
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

/// Baseline table: a `Mutex<HashMap>` behind a userdata `__index`, the
/// ordinary way to expose a Rust map to Lua with mlua.
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

/// Reads per reader thread and run (about 0.1 s for rcu, more for the
/// baseline).
const READS: i64 = 2_000_000;
/// Runs per configuration; medians and bests are reported.
const RUNS: usize = 7;

#[derive(Clone, Copy, PartialEq)]
enum Writer {
    None,
    /// As fast as it can.
    Busy,
    /// At this many writes per second.
    Paced(f64),
}

/// Pace of the equal-rate comparison (below what either writer sustains).
const PACE: f64 = 500_000.0;

#[derive(Clone, Copy, PartialEq)]
enum Table {
    Rcu,
    Locked,
}

struct Run {
    reads_per_sec: f64,
    writes_per_sec: f64,
    /// Reads of the always-present `key` that saw nil: must stay 0 (the
    /// former arc-swap backend missed rarely, see docs/lunatik.md).
    misses: i64,
}

/// `threads` Lua states each read `t.key` READS times from their own
/// thread; with `writer`, one more thread rewrites `key` and one of 16
/// other keys of the same table in a loop for the whole run, as fast as it
/// can or paced to a rate (sleeping when ahead). Timing starts once every
/// reader has its state and function ready.
fn reads_per_sec(root: &PathBuf, threads: usize, table: Table, writer: Writer) -> Run {
    let lua = main_state(root);
    let t: Value = lua
        .load("local t = require('rcu').table(); t.key = 1; for i = 0, 15 do t['other' .. i] = i end return t")
        .eval()
        .expect("rcu");
    let rcu = match &t {
        Value::UserData(ud) => lunatik::extract(ud).expect("rcu object"),
        _ => unreachable!(),
    };
    let mut init: HashMap<String, i64> = (0..16).map(|i| (format!("other{i}"), i)).collect();
    init.insert("key".into(), 1);
    let locked_t = LockedTable(Arc::new(Mutex::new(init)));
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(threads + 1));
    let w = (writer != Writer::None).then(|| {
        let stop = stop.clone();
        let rcu = rcu.clone();
        let lt = locked_t.clone();
        std::thread::spawn(move || {
            let rcu = rcu.downcast::<lunatik::lua::rcu::RcuTable>().expect("rcu");
            let others: Vec<String> = (0..16).map(|i| format!("other{i}")).collect();
            let mut i = 0i64;
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Writer::Paced(rate) = writer
                    && (i * 2) as f64 >= rate * start.elapsed().as_secs_f64()
                {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                i += 1;
                let other = &others[(i % 16) as usize];
                match table {
                    Table::Locked => {
                        // keys are built outside the lock, as a careful
                        // writer would
                        let (k, o) = (String::from("key"), other.clone());
                        if let Ok(mut g) = lt.0.lock() {
                            g.insert(k, i);
                            g.insert(o, i);
                        }
                    }
                    Table::Rcu => {
                        rcu.map().set(b"key", Some(lunatik::Shared::Int(i)));
                        rcu.map()
                            .set(other.as_bytes(), Some(lunatik::Shared::Int(i)));
                    }
                }
            }
            (i * 2) as f64 / start.elapsed().as_secs_f64()
        })
    });
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let rcu = rcu.clone();
            let lt = locked_t.clone();
            let root = root.clone();
            let ready = ready.clone();
            std::thread::spawn(move || {
                let l = Lua::new();
                lunatik::register(&l, lunatik::Config::new(&root)).expect("register");
                let f: Function = l.load(SCRIPTS[3].1).eval().expect("reader");
                let t = match table {
                    Table::Locked => Value::UserData(l.create_userdata(lt).expect("ud")),
                    Table::Rcu => lunatik::push_object(
                        &l,
                        rcu.downcast::<lunatik::lua::rcu::RcuTable>().expect("rcu"),
                    )
                    .expect("push"),
                };
                ready.wait();
                f.call::<i64>((t, READS)).expect("reads")
            })
        })
        .collect();
    ready.wait();
    let start = Instant::now();
    let mut misses = 0;
    for h in hs {
        misses += READS - black_box(h.join().expect("reader"));
    }
    let el = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let writes_per_sec = w.map_or(0.0, |w| w.join().expect("writer"));
    Run {
        reads_per_sec: (READS as f64 * threads as f64) / el.as_secs_f64(),
        writes_per_sec,
        misses,
    }
}

/// Median and best of RUNS runs (reads/s), and the median writer rate.
fn measure(root: &PathBuf, threads: usize, table: Table, writer: Writer) -> (f64, f64, f64) {
    let mut runs: Vec<Run> = (0..RUNS)
        .map(|_| reads_per_sec(root, threads, table, writer))
        .collect();
    runs.sort_by(|a, b| a.reads_per_sec.total_cmp(&b.reads_per_sec));
    let misses: i64 = runs.iter().map(|r| r.misses).sum();
    if misses > 0 {
        println!(
            "c_rcu_reads WARNING: {misses} reads of an always-present key returned nil ({threads} readers, {} table, {} writer)",
            match table {
                Table::Rcu => "rcu",
                Table::Locked => "Mutex<HashMap>",
            },
            match writer {
                Writer::None => "no",
                Writer::Busy => "busy",
                Writer::Paced(_) => "paced",
            }
        );
    }
    let median = runs[RUNS / 2].reads_per_sec;
    let best = runs[RUNS - 1].reads_per_sec;
    let mut w: Vec<f64> = runs.iter().map(|r| r.writes_per_sec).collect();
    w.sort_by(f64::total_cmp);
    (median, best, w[RUNS / 2])
}

fn rcu_reads(_c: &mut Criterion, root: &PathBuf) {
    let one = measure(root, 1, Table::Rcu, Writer::None);
    let two = measure(root, 2, Table::Rcu, Writer::None);
    let rcu_w = measure(root, 2, Table::Rcu, Writer::Busy);
    let mutex_w = measure(root, 2, Table::Locked, Writer::Busy);
    let rcu_p = measure(root, 2, Table::Rcu, Writer::Paced(PACE));
    let mutex_p = measure(root, 2, Table::Locked, Writer::Paced(PACE));
    let m = |x: f64| x / 1e6;
    println!(
        "c_rcu_reads (median of {RUNS}, best in brackets): 1 thread {:.1} [{:.1}] M reads/s, 2 threads {:.1} [{:.1}] M reads/s (scaling {:.2}x)",
        m(one.0),
        m(one.1),
        m(two.0),
        m(two.1),
        two.0 / one.0
    );
    println!(
        "c_rcu_reads under a writer, 2 readers: rcu {:.1} [{:.1}] M/s (writer {:.2} M writes/s), Mutex<HashMap> {:.1} [{:.1}] M/s (writer {:.2} M writes/s): {:.2}x [{:.2}x]",
        m(rcu_w.0),
        m(rcu_w.1),
        m(rcu_w.2),
        m(mutex_w.0),
        m(mutex_w.1),
        m(mutex_w.2),
        rcu_w.0 / mutex_w.0,
        rcu_w.1 / mutex_w.1
    );
    println!(
        "c_rcu_reads under a writer paced to {:.1} M writes/s, 2 readers: rcu {:.1} [{:.1}] M/s (writer {:.2}), Mutex<HashMap> {:.1} [{:.1}] M/s (writer {:.2}): {:.2}x [{:.2}x]",
        m(PACE),
        m(rcu_p.0),
        m(rcu_p.1),
        m(rcu_p.2),
        m(mutex_p.0),
        m(mutex_p.1),
        m(mutex_p.2),
        rcu_p.0 / mutex_p.0,
        rcu_p.1 / mutex_p.1
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
