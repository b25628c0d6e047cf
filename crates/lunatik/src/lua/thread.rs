//! `thread` module and the `thread` class: a runtime's body run on a real
//! OS thread, stopped cooperatively (`thread.shouldstop()`) and joined.
//!
//! The OS thread holds the runtime's lock while the body runs, as upstream's
//! kthread does: other users of that runtime wait until the body yields or
//! returns.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mlua::{Lua, MultiValue, Value};

use super::class::{Handle, LuaClass, Method, push_object, to_shared};
use super::runtime::Runtime;
use super::{Args, function, may_block, none, ret};
use crate::error::Raise;
use crate::object::Object;
use crate::stats::{Kind, Live};

/// Stack size of a runtime thread.
pub const STACK_SIZE: usize = 4 << 20;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    /// `std::thread::Builder::spawn` failed.
    #[error("failed to spawn thread '{name}'")]
    Spawn {
        /// thread name
        name: String,
        /// why
        #[source]
        source: std::io::Error,
    },
}

/// A `thread` object.
pub struct KThread {
    name: String,
    stop: AtomicBool,
    done: AtomicBool,
    tid: AtomicI64,
    join: Mutex<Option<JoinHandle<Result<(), String>>>>,
    _live: Live,
}

impl Object for KThread {
    fn class(&self) -> &'static str {
        "thread"
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<KThread>>> = const { RefCell::new(None) };
}

fn current() -> Option<Arc<KThread>> {
    CURRENT.with_borrow(|c| c.clone())
}

/// Kernel thread id of the calling thread (the `gettid` system call: an
/// early init may not have mounted /proc).
fn gettid() -> i64 {
    i64::from(rustix::thread::gettid().as_raw_nonzero().get())
}

type Outcome = Result<MultiValue, Raise>;

fn stop(lua: &Lua, t: &Arc<KThread>, _: Args) -> Outcome {
    may_block(lua, "thread:stop")?;
    if current().is_some_and(|c| Arc::ptr_eq(&c, t)) {
        return Err(Raise::new("a thread cannot stop itself"));
    }
    t.stop.store(true, Ordering::SeqCst);
    let handle = t.join.lock().unwrap_or_else(|e| e.into_inner()).take();
    let outcome = match handle {
        None => Ok(()),
        Some(h) => h.join().unwrap_or_else(|_| Err("thread panicked".into())),
    };
    match outcome {
        Ok(()) => Ok(ret([Value::Boolean(true)])),
        Err(m) => Ok(ret([
            Value::Boolean(false),
            Value::String(lua.create_string(m)?),
        ])),
    }
}

fn task(lua: &Lua, t: &Arc<KThread>, _: Args) -> Outcome {
    let tbl = lua.create_table()?;
    tbl.set("name", t.name.as_str())?;
    tbl.set("tid", t.tid.load(Ordering::SeqCst))?;
    tbl.set("running", !t.done.load(Ordering::SeqCst))?;
    tbl.set("stopping", t.stop.load(Ordering::SeqCst))?;
    Ok(ret([Value::Table(tbl)]))
}

impl LuaClass for KThread {
    const NAME: &'static str = "thread";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[("stop", stop), ("task", task)]
    }
    fn describe(&self) -> String {
        format!(" ({})", self.name)
    }
}

fn run(lua: &Lua, args: Args) -> Outcome {
    may_block(lua, "thread.run")?;
    let rt: Arc<Runtime> = match args.get(1) {
        Some(Value::UserData(ud)) => ud.borrow::<Handle<Runtime>>().ok().map(|h| h.0.clone()),
        _ => None,
    }
    .ok_or_else(|| args.expected(1, "runtime"))?;
    if !rt.is_sleepable() {
        return Err(args.bad(1, "sleepable runtime expected"));
    }
    let name = args.string(lua, 2)?;
    if name.contains('\0') {
        return Err(args.bad(2, "name contains NUL"));
    }
    let mut shared = Vec::new();
    for (i, v) in args.from(3).enumerate() {
        shared.push(to_shared(v).map_err(|r| r.arg(i + 3, "run"))?);
    }
    let t = Arc::new(KThread {
        name: name.clone(),
        stop: AtomicBool::new(false),
        done: AtomicBool::new(false),
        tid: AtomicI64::new(-1),
        join: Mutex::new(None),
        _live: Live::new(Kind::Thread),
    });
    let me = t.clone();
    let h = std::thread::Builder::new()
        .name(name.clone())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            me.tid.store(gettid(), Ordering::SeqCst);
            CURRENT.set(Some(me.clone()));
            let r = rt
                .resume(true, &shared)
                .map(drop)
                .map_err(|e| e.message().to_owned());
            drop(rt);
            CURRENT.set(None);
            me.done.store(true, Ordering::SeqCst);
            r
        })
        .map_err(|source| {
            Raise::new(crate::error::message(&ThreadError::Spawn { name, source }))
        })?;
    *t.join.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
    Ok(ret([push_object(lua, t)?]))
}

fn shouldstop(_: &Lua, _: Args) -> Outcome {
    Ok(ret([Value::Boolean(
        current().is_some_and(|t| t.stop.load(Ordering::SeqCst)),
    )]))
}

fn current_fn(lua: &Lua, _: Args) -> Outcome {
    Ok(ret([match current() {
        Some(t) => push_object(lua, t)?,
        None => Value::Nil,
    }]))
}

fn sleep(lua: &Lua, args: Args) -> Outcome {
    may_block(lua, "thread.sleep")?;
    let ms = args.integer(1)?;
    let ms = u64::try_from(ms).map_err(|_| args.bad(1, "duration must not be negative"))?;
    let end = Instant::now().checked_add(Duration::from_millis(ms));
    let me = current();
    loop {
        if me.as_ref().is_some_and(|t| t.stop.load(Ordering::SeqCst)) {
            return Ok(ret([Value::Boolean(false)]));
        }
        let left = match end {
            Some(e) => e.saturating_duration_since(Instant::now()),
            None => Duration::from_millis(10),
        };
        if left.is_zero() {
            return Ok(ret([Value::Boolean(true)]));
        }
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

/// Builds the `thread` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("run", function(lua, "run", run)?)?;
    t.set("shouldstop", function(lua, "shouldstop", shouldstop)?)?;
    t.set("current", function(lua, "current", current_fn)?)?;
    t.set("sleep", function(lua, "sleep", sleep)?)?;
    let _ = none;
    Ok(t)
}
