//! `lunatik` module and the `runtime` class: isolated Lua states created
//! from a script under the Lua root, resumed as coroutines under their own
//! lock, stopped explicitly or when their last handle goes.
//!
//! Locking: each runtime's state sits in a `Mutex`. A sleepable runtime's
//! lock is waited for; a non-sleepable one is spun on briefly and then
//! refused with `runtime is busy`. A thread-local chain of the runtimes this
//! OS thread is inside turns re-entry (A→A, A→B→A) into `runtime is busy`
//! instead of a self-deadlock, and bounds nesting so the native stack
//! cannot overflow. Across threads, a process-wide wait-for graph of the
//! sleepable locks (who holds each, which one each blocked thread waits
//! for) turns a cycle — thread 1 inside A resuming B while thread 2 inside
//! B resumes A — into `runtime is busy` for the thread that would close it,
//! instead of a deadlock of both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Value, VmState};
use ned_path::BeneathError;

use super::class::{Handle, LuaClass, Method, from_shared, push_object, to_shared};
use super::{Args, function, none, ret, sleepable};
use crate::Config;
use crate::error::{Raise, message};
use crate::object::{Object, Shared};
use crate::stats::{Kind, Live};

/// Deepest nesting of runtime calls (resume/create/stop) on one OS thread.
pub const MAX_DEPTH: usize = 32;
/// How long a call spins on a busy non-sleepable runtime before giving up.
pub const SPIN: Duration = Duration::from_micros(200);
const HOOK_STEP: u32 = 1000;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The script name is empty, too long or holds NUL.
    #[error("invalid script name '{0}' (must be a path relative to the Lua root)")]
    BadName(String),
    /// The script name leaves the Lua root: absolute, `..` above it, or a
    /// symlink pointing out.
    #[error("invalid script name '{name}'")]
    Escapes {
        name: String,
        #[source]
        source: ned_path::BeneathError,
    },
    /// The script file could not be found or read.
    #[error("cannot open {path}")]
    Open {
        /// `<root>/<name>.lua`
        path: String,
        /// why
        #[source]
        source: ned_path::BeneathError,
    },
    /// Building the Lua state failed.
    #[error("failed to create runtime state")]
    State(#[source] mlua::Error),
    /// The script (or the body) raised; the message carries its file:line.
    #[error("{0}")]
    Lua(String),
    /// Re-entry, or a non-sleepable runtime held by another thread.
    #[error("runtime is busy")]
    Busy,
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("too many nested runtime calls (limit {MAX_DEPTH})")]
    TooDeep,
    /// `stop()` was called.
    #[error("runtime stopped")]
    Stopped,
    /// The body returned or failed (or the script returned no function).
    #[error("cannot resume dead runtime")]
    Dead,
}

impl From<RuntimeError> for Raise {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Lua(m) => Raise::bare(m),
            other => Raise::new(message(&other)),
        }
    }
}

thread_local! {
    static CHAIN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Membership of this OS thread's chain of entered runtimes.
struct Chain;

impl Chain {
    fn enter(id: u64) -> Result<Chain, RuntimeError> {
        CHAIN.with_borrow_mut(|c| {
            if id != 0 && c.contains(&id) {
                Err(RuntimeError::Busy)
            } else if c.len() >= MAX_DEPTH {
                Err(RuntimeError::TooDeep)
            } else {
                c.push(id);
                Ok(Chain)
            }
        })
    }

    fn force(id: u64) -> Chain {
        CHAIN.with_borrow_mut(|c| c.push(id));
        Chain
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        CHAIN.with_borrow_mut(|c| c.pop());
    }
}

/// Who holds each sleepable runtime's lock, and which one each thread
/// blocked on such a lock waits for. Edges are changed and cycles looked
/// for under one mutex, so of the threads that would close a cycle the last
/// to arrive sees it: each thread records what it holds before it can wait
/// for anything else.
#[derive(Default)]
struct Waits {
    holder: HashMap<u64, ThreadId>,
    waiting: HashMap<ThreadId, u64>,
}

static WAITS: LazyLock<Mutex<Waits>> = LazyLock::new(Default::default);

fn waits() -> MutexGuard<'static, Waits> {
    WAITS.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Waits {
    /// Whether `me` waiting for runtime `id` would close a cycle.
    fn closes_cycle(&self, me: ThreadId, mut id: u64) -> bool {
        // Each step follows a holder to the runtime it waits for; a cycle
        // not through `me` cannot make this loop longer than the graph.
        for _ in 0..=self.waiting.len() {
            match self.holder.get(&id) {
                Some(&t) if t == me => return true,
                Some(t) => match self.waiting.get(t) {
                    Some(&next) => id = next,
                    None => return false,
                },
                None => return false,
            }
        }
        false
    }
}

/// A runtime's lock, held; a sleepable one is known to [`WAITS`] until it
/// is released.
struct Held<'a> {
    guard: MutexGuard<'a, Option<State>>,
    tracked: Option<u64>,
}

impl Deref for Held<'_> {
    type Target = Option<State>;
    fn deref(&self) -> &Self::Target {
        &self.guard
    }
}

impl DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.guard
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Forgotten before the lock itself is released (the guard field
        // drops after this), so nobody sees a holder that already left.
        if let Some(id) = self.tracked {
            waits().holder.remove(&id);
        }
    }
}

/// Instruction budget of one call into a non-sleepable runtime.
///
/// When the budget runs out the hook yields the body coroutine (a yield
/// cannot be caught by `pcall`, so `while true do pcall(...) end` cannot
/// outlive it) and the runtime kills the body. Where a yield is impossible
/// (inside a Rust callback) the hook raises an error instead.
struct Budget {
    limit: u64,
    used: AtomicU64,
    over: AtomicU64,
}

impl Budget {
    fn exceeded(&self) -> bool {
        self.over.load(Ordering::Relaxed) > 0
    }

    fn error(&self) -> RuntimeError {
        RuntimeError::Lua(format!(
            "instruction budget exceeded ({} instructions)",
            self.limit
        ))
    }
}

/// Per-runtime limits (`lunatik.runtime(script, sleep, {memory=, budget=})`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Bytes the state may allocate.
    pub memory: Option<usize>,
    /// Instructions per call (non-sleepable runtimes only).
    pub budget: Option<u64>,
}

struct State {
    body: Option<mlua::Thread>,
    budget: Option<Arc<Budget>>,
    lua: Lua,
    _live: Live,
}

impl State {
    fn reset_budget(&self) {
        if let Some(b) = &self.budget {
            b.used.store(0, Ordering::Relaxed);
            b.over.store(0, Ordering::Relaxed);
            if let Ok(t) = self.lua.named_registry_value::<mlua::Table>(GUARD_KEY) {
                let _ = t.raw_set("dying", false);
            }
        }
    }

    fn budget_exceeded(&self) -> Option<RuntimeError> {
        self.budget
            .as_ref()
            .filter(|b| b.exceeded())
            .map(|b| b.error())
    }

    /// Closes the state in order (see [`super::close`]).
    fn close(self) {
        let State {
            body,
            budget,
            lua,
            _live,
        } = self;
        drop(body);
        let sweep = super::touched(&lua);
        super::close(lua, sweep, || {});
        drop(budget);
    }
}

/// A runtime.
pub struct Runtime {
    id: u64,
    sleep: bool,
    script: String,
    slot: Mutex<Option<State>>,
    _live: Live,
}

impl Object for Runtime {
    fn class(&self) -> &'static str {
        "runtime"
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The source of `<root>/<name>.lua`, looked up beneath the root (see
/// ned-path) and with its header stripped as `lua5.4` does.
fn read_script(config: &Config, name: &str) -> Result<Vec<u8>, RuntimeError> {
    if name.is_empty() || name.len() > 4096 || name.contains('\0') {
        return Err(RuntimeError::BadName(name.chars().take(200).collect()));
    }
    let file = format!("{name}.lua");
    let open = |source| RuntimeError::Open {
        path: config.lua_root.join(&file).display().to_string(),
        source,
    };
    let root = config.root_dir.get(&config.lua_root).map_err(open)?;
    root.beneath().read_script(&file).map_err(|e| match e {
        BeneathError::Escapes { .. } => RuntimeError::Escapes {
            name: name.to_owned(),
            source: e,
        },
        e => open(e),
    })
}

/// `os.exit` in a runtime would end ned's whole process on the spot and
/// orphan every task; a runtime has no process of its own to end, so it
/// raises instead (upstream's kernel runtimes have no `os.exit` at all).
fn refuse_exit(lua: &Lua) -> mlua::Result<()> {
    let os: Option<mlua::Table> = lua.globals().get("os")?;
    if let Some(os) = os {
        let refuse = lua.create_function(|_, ()| -> mlua::Result<()> {
            Err(mlua::Error::runtime(
                "'os.exit' is not allowed in a runtime (it would end the host)",
            ))
        })?;
        os.set("exit", refuse)?;
    }
    Ok(())
}

const LOCKDOWN: &str = r#"
local error = error
local function refuse(op) return function() error("'" .. op .. "' is not allowed in a non-sleepable runtime", 2) end end
dofile, loadfile = refuse("dofile"), refuse("loadfile")
if os then os.execute = refuse("os.execute") end
package.loadlib = refuse("package.loadlib")
package.searchers = { package.searchers[1], function(name)
  error("'require' is not allowed in a non-sleepable runtime (module '" .. name .. "')", 3)
end }
"#;

/// Instructions between two calls of the host's [`crate::Interrupt`].
const INTERRUPT_STEP: u32 = 1 << 20;

/// [`BUDGET_GUARD`] compiled once per process: every runtime of a host with
/// an interrupt loads it, and parsing it each time cost about a third of a
/// runtime's creation.
fn guard_bytecode(lua: &Lua) -> mlua::Result<&'static Vec<u8>> {
    static CODE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    if let Some(code) = CODE.get() {
        return Ok(code);
    }
    let f = lua.load(BUDGET_GUARD).set_name("=guard").into_function()?;
    Ok(CODE.get_or_init(|| f.dump(true)))
}

/// Registry key of the table [`BUDGET_GUARD`] reads.
const GUARD_KEY: &str = "lunatik.guard";

/// Raises `msg` from a hook after telling the guarded `pcall`s to re-raise it.
fn mark_dying(lua: &Lua, msg: String) -> mlua::Result<VmState> {
    if let Ok(t) = lua.named_registry_value::<mlua::Table>(GUARD_KEY) {
        t.raw_set("dying", msg.as_str())?;
    }
    Err(mlua::Error::runtime(msg))
}

/// Runs [`BUDGET_GUARD`] in `lua` unless it already ran there.
fn install_guard(lua: &Lua) -> mlua::Result<()> {
    if lua
        .named_registry_value::<Option<mlua::Table>>(GUARD_KEY)?
        .is_some()
    {
        return Ok(());
    }
    let guard = lua.create_table()?;
    guard.raw_set("dying", false)?;
    lua.set_named_registry_value(GUARD_KEY, &guard)?;
    lua.load(guard_bytecode(lua)?.as_slice())
        .set_name("=guard")
        .set_mode(mlua::chunk::ChunkMode::Binary)
        .call::<()>(guard)
}

/// Raises when the host wants control back; the guarded `pcall`s (see
/// [`BUDGET_GUARD`], installed in every runtime of a host that interrupts)
/// re-raise it, so it reaches the body.
fn interrupted(lua: &Lua, i: &crate::Interrupt) -> mlua::Result<VmState> {
    if (i.0)() {
        return mark_dying(lua, "interrupted by a shutdown signal".to_owned());
    }
    Ok(VmState::Continue)
}

/// Makes the error-catching functions of a runtime re-raise the error that
/// is killing it (a blown instruction budget, or the host's interrupt). The
/// hook cannot yield inside a call from C (a `table.sort` comparator, an
/// `rcu.map` callback), so there it raises; without this,
/// `while true do pcall(table.sort, t, spin) end` would catch that error for
/// ever. Once the hook has set `guard.dying` (see [`mark_dying`]), `pcall`,
/// `xpcall`, `coroutine.resume` and the functions of `coroutine.wrap` raise
/// it again on return, so it reaches the body and kills it. The check is
/// plain Lua: a table field read per call.
const BUDGET_GUARD: &str = r#"
local guard = ...
local pcall, xpcall, resume, wrap, error = pcall, xpcall, coroutine.resume, coroutine.wrap, error
local function check(...)
  if guard.dying then error(guard.dying, 0) end
  return ...
end
_G.pcall = function(...) return check(pcall(...)) end
_G.xpcall = function(...) return check(xpcall(...)) end
coroutine.resume = function(...) return check(resume(...)) end
coroutine.wrap = function(f)
  local g = wrap(f)
  return function(...) return check(g(...)) end
end
"#;

/// Sets a fresh runtime state up: lunatik's modules, the module path, the
/// `os.exit` refusal, the memory limit, and the hooks — the host's
/// interrupt, and for a non-sleepable runtime its instruction budget, which
/// is returned.
fn configure(
    lua: &Lua,
    config: &Arc<Config>,
    sleep: bool,
    limits: Limits,
) -> mlua::Result<Option<Arc<Budget>>> {
    super::install(lua, config.clone(), sleep)?;
    let package: mlua::Table = lua.globals().get("package")?;
    let root = config.lua_root.display();
    package.set("path", format!("{root}/?.lua;{root}/?/init.lua"))?;
    package.set("cpath", "")?;
    refuse_exit(lua)?;
    if let Some(m) = limits.memory.or(config.memory_limit) {
        lua.set_memory_limit(m)?;
    }
    let interrupt = config.interrupt.clone();
    if sleep {
        // No budget here, but the host may interrupt: the pcall guard goes
        // in before the script runs, so even a `pcall` the script keeps in
        // a local is the guarded one (installing it at the interrupt left
        // such a body free to swallow the interrupt for ever).
        if let Some(i) = interrupt {
            install_guard(lua)?;
            lua.set_global_hook(
                HookTriggers::new().every_nth_instruction(INTERRUPT_STEP),
                move |lua, _| interrupted(lua, &i),
            )?;
        }
        return Ok(None);
    }
    install_guard(lua)?;
    let budget = Arc::new(Budget {
        limit: limits.budget.unwrap_or(config.instruction_budget),
        used: AtomicU64::new(0),
        over: AtomicU64::new(0),
    });
    install_budget_hook(lua, budget.clone(), interrupt)?;
    Ok(Some(budget))
}

/// The hook of a non-sleepable runtime: counts instructions against the
/// budget (yielding out of the body, or raising where it cannot yield,
/// once it is spent) and asks the host's interrupt every
/// [`INTERRUPT_STEP`] instructions.
fn install_budget_hook(
    lua: &Lua,
    b: Arc<Budget>,
    interrupt: Option<crate::Interrupt>,
) -> mlua::Result<()> {
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_STEP),
        move |lua, _| {
            let used =
                b.used.fetch_add(u64::from(HOOK_STEP), Ordering::Relaxed) + u64::from(HOOK_STEP);
            if let Some(i) = &interrupt
                && used % u64::from(INTERRUPT_STEP) < u64::from(HOOK_STEP)
            {
                interrupted(lua, i)?;
            }
            if used <= b.limit {
                return Ok(VmState::Continue);
            }
            // First try to yield out of every pcall; where a yield is
            // impossible (not yieldable here), raise instead.
            if b.over.fetch_add(1, Ordering::Relaxed) < 2 {
                Ok(VmState::Yield)
            } else {
                mark_dying(lua, b.error().to_string())
            }
        },
    )
}

/// Runs a runtime's script to completion and returns its first result.
/// Under a budget the script runs as a coroutine, so that the budget can
/// yield out of it.
fn run_script(
    lua: &Lua,
    name: &str,
    src: Vec<u8>,
    budget: Option<&Budget>,
) -> Result<Option<Value>, RuntimeError> {
    let lua_err = |e: mlua::Error| RuntimeError::Lua(message(&e));
    let chunk = lua
        .load(src)
        .set_name(format!("@{name}.lua"))
        .into_function()
        .map_err(lua_err)?;
    let Some(b) = budget else {
        // Without a budget nothing yields out of the script: a plain call
        // saves creating a thread.
        return Ok(chunk.call::<MultiValue>(()).map_err(lua_err)?.pop_front());
    };
    let main = lua.create_thread(chunk).map_err(lua_err)?;
    let out = main.resume::<MultiValue>(());
    if b.exceeded() {
        return Err(b.error());
    }
    let first = out.map_err(lua_err)?.pop_front();
    if main.is_resumable() {
        return Err(RuntimeError::Lua(format!(
            "{name}.lua: attempt to yield from outside a coroutine"
        )));
    }
    Ok(first)
}

impl Runtime {
    /// Creates a runtime: a fresh state running `<root>/<name>.lua` to
    /// completion on this thread; its first return value becomes the body.
    pub fn create(
        config: &Arc<Config>,
        name: &str,
        sleep: bool,
        limits: Limits,
    ) -> Result<Arc<Runtime>, RuntimeError> {
        let src = read_script(config, name)?;
        let _chain = Chain::enter(0)?;
        let libs = if sleep {
            StdLib::ALL_SAFE
        } else {
            StdLib::ALL_SAFE ^ StdLib::IO
        };
        let lua = Lua::new_with(libs, LuaOptions::default()).map_err(RuntimeError::State)?;
        let live = Live::new(Kind::State);
        let budget = configure(&lua, config, sleep, limits).map_err(RuntimeError::State)?;
        let first = run_script(&lua, name, src, budget.as_deref())?;
        let body = match first {
            Some(Value::Function(f)) => Some(
                lua.create_thread(f)
                    .map_err(|e| RuntimeError::Lua(message(&e)))?,
            ),
            _ => None,
        };
        if !sleep {
            lua.load(LOCKDOWN)
                .set_name("=lunatik")
                .exec()
                .map_err(RuntimeError::State)?;
        }
        Ok(Arc::new(Runtime {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            sleep,
            script: name.to_owned(),
            slot: Mutex::new(Some(State {
                body,
                budget,
                lua,
                _live: live,
            })),
            _live: Live::new(Kind::Runtime),
        }))
    }

    /// Whether the runtime may block.
    pub fn is_sleepable(&self) -> bool {
        self.sleep
    }

    /// Script name it was created from.
    pub fn script(&self) -> &str {
        &self.script
    }

    fn lock(&self) -> Result<Held<'_>, RuntimeError> {
        if self.sleep {
            return self.lock_sleepable();
        }
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let guard = match self.slot.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(e)) => e.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    spins += 1;
                    if spins.is_multiple_of(64) {
                        if start.elapsed() > SPIN {
                            return Err(RuntimeError::Busy);
                        }
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                    continue;
                }
            };
            return Ok(Held {
                guard,
                tracked: None,
            });
        }
    }

    /// Waits for a sleepable runtime's lock, unless waiting would close a
    /// cycle of threads waiting for each other (see [`Waits`]).
    fn lock_sleepable(&self) -> Result<Held<'_>, RuntimeError> {
        let me = std::thread::current().id();
        let held = |guard| {
            let mut w = waits();
            w.waiting.remove(&me);
            w.holder.insert(self.id, me);
            Held {
                guard,
                tracked: Some(self.id),
            }
        };
        match self.slot.try_lock() {
            Ok(g) => return Ok(held(g)),
            Err(TryLockError::Poisoned(e)) => return Ok(held(e.into_inner())),
            Err(TryLockError::WouldBlock) => {}
        }
        {
            let mut w = waits();
            if w.closes_cycle(me, self.id) {
                return Err(RuntimeError::Busy);
            }
            w.waiting.insert(me, self.id);
        }
        Ok(held(
            self.slot.lock().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Resumes the body with `args` (already copied out of the caller).
    /// `caller_sleep` is whether the calling context may block.
    pub fn resume(&self, caller_sleep: bool, args: &[Shared]) -> Result<Vec<Shared>, Raise> {
        if !caller_sleep && self.sleep {
            return Err(Raise::not_sleepable("resume"));
        }
        let _chain = Chain::enter(self.id)?;
        let mut guard = self.lock()?;
        let st = guard.as_mut().ok_or(RuntimeError::Stopped)?;
        let body = st.body.as_ref().ok_or(RuntimeError::Dead)?;
        if !body.is_resumable() {
            return Err(RuntimeError::Dead.into());
        }
        st.reset_budget();
        let mut vals = MultiValue::with_capacity(args.len());
        for a in args {
            vals.push_back(from_shared(&st.lua, a)?);
        }
        let out = body.resume::<MultiValue>(vals);
        if let Some(e) = st.budget_exceeded() {
            st.body = None;
            return Err(e.into());
        }
        let out = out.map_err(|e| Raise::bare(message(&e)))?;
        out.iter()
            .enumerate()
            .map(|(i, v)| {
                to_shared(v).map_err(|r| match r {
                    super::class::Refusal::Type(t) => Raise::new(format!(
                        "bad result #{} from 'resume' ({t} cannot be shared)",
                        i + 1
                    )),
                    single => single.arg(i + 1, "resume"),
                })
            })
            .collect()
    }

    /// Closes the state after the current user is done; idempotent.
    pub fn stop(&self, caller_sleep: bool) -> Result<(), Raise> {
        if !caller_sleep && self.sleep {
            return Err(Raise::not_sleepable("stop"));
        }
        let _chain = Chain::enter(self.id)?;
        let mut guard = self.lock()?;
        if let Some(st) = guard.take() {
            st.reset_budget();
            st.close();
        }
        Ok(())
    }

    /// Whether `stop()` ran.
    pub fn is_stopped(&self) -> bool {
        self.slot.lock().map(|g| g.is_none()).unwrap_or(false)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let slot = self.slot.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(st) = slot.take() {
            let _chain = Chain::force(self.id);
            st.reset_budget();
            st.close();
        }
    }
}

fn m_resume(lua: &Lua, rt: &Arc<Runtime>, args: Args) -> Result<MultiValue, Raise> {
    let mut shared = Vec::with_capacity(args.len());
    for (i, v) in args.from(1).enumerate() {
        shared.push(to_shared(v).map_err(|r| r.arg(i + 1, "resume"))?);
    }
    let out = rt.resume(sleepable(lua), &shared)?;
    let mut vals = MultiValue::with_capacity(out.len());
    for s in &out {
        vals.push_back(from_shared(lua, s)?);
    }
    Ok(vals)
}

fn m_stop(lua: &Lua, rt: &Arc<Runtime>, _args: Args) -> Result<MultiValue, Raise> {
    rt.stop(sleepable(lua))?;
    Ok(none())
}

impl LuaClass for Runtime {
    const NAME: &'static str = "runtime";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[("resume", m_resume), ("stop", m_stop)]
    }
    fn describe(&self) -> String {
        format!(
            " ({}, {})",
            self.script,
            if self.sleep {
                "sleepable"
            } else {
                "non-sleepable"
            }
        )
    }
}

fn parse_sleep(args: &Args) -> Result<bool, Raise> {
    match args.get(2) {
        None | Some(Value::Nil) => Ok(true),
        Some(Value::Boolean(b)) => Ok(*b),
        Some(Value::String(s)) => match &*s.as_bytes() {
            b"process" => Ok(true),
            b"softirq" | b"hardirq" => Ok(false),
            _ => Err(args.bad(
                2,
                "invalid context (expected 'process', 'softirq' or 'hardirq')",
            )),
        },
        Some(_) => Err(args.expected(2, "boolean")),
    }
}

fn parse_limits(args: &Args) -> Result<Limits, Raise> {
    let t = match args.get(3) {
        None | Some(Value::Nil) => return Ok(Limits::default()),
        Some(Value::Table(t)) => t,
        Some(_) => return Err(args.expected(3, "table")),
    };
    let field = |k: &str| -> Result<Option<u64>, Raise> {
        match t.raw_get::<Value>(k)? {
            Value::Nil => Ok(None),
            Value::Integer(i) if i > 0 => Ok(Some(i as u64)),
            _ => Err(args.bad(3, format!("'{k}' must be a positive integer"))),
        }
    };
    Ok(Limits {
        memory: field("memory")?.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        budget: field("budget")?,
    })
}

fn new_runtime(lua: &Lua, args: Args) -> Result<MultiValue, Raise> {
    let config = super::config(lua)?;
    if !sleepable(lua) {
        return Err(Raise::not_sleepable("lunatik.runtime"));
    }
    let name = args.string(lua, 1)?;
    let sleep = parse_sleep(&args)?;
    let limits = parse_limits(&args)?;
    let rt = Runtime::create(&config, &name, sleep, limits)?;
    Ok(ret([push_object(lua, rt)?]))
}

/// Builds the `lunatik` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("runtime", function(lua, "runtime", new_runtime)?)?;
    t.set("_ENV", push_object(lua, super::rcu::env())?)?;
    Ok(t)
}

/// Runtime handle type, for callers that need to take a runtime out of Lua.
pub type RuntimeHandle = Handle<Runtime>;
