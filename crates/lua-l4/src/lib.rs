//! The `L4` package: Lua bindings over ned-core.
//!
//! `register` installs `require("L4")` lazily (an empty script never pays for
//! it). The package is built from two halves: the natives in this crate (one
//! file per Lua class) and lua/L4.lua, the Lua half that upstream keeps as
//! `ned.lua`, embedded at build time. The natives are handed to L4.lua as one
//! table; scripts never see them directly.

mod cap;
mod command;
mod fail;
mod hooks;
mod info;
mod loader;
mod logspec;
mod rom;
mod sandbox;
mod sandbox_limits;
mod signal;
mod socket;
mod task;
mod tasks_info;
mod timeline;
mod timer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, Value};
use ned_core::cap::Object;
use ned_core::supervisor::{Event, Reason, Shutdown, Supervisor, TaskId};
use ned_core::{Cap, Rights};

pub use fail::lua_message;
pub use timeline::write as write_timeline;

/// A file of lua/ as build.rs embeds it: compiled to bytecode (its source
/// in a cross build), named `=` and its path beneath lua/, the name
/// build.rs compiled it with.
pub(crate) struct Embedded {
    code: &'static [u8],
    name: &'static str,
}

impl Embedded {
    /// The file as a chunk of `lua`.
    pub(crate) fn load(&self, lua: &Lua) -> mlua::chunk::Chunk<'static> {
        lua.load(self.code).set_name(self.name)
    }
}

/// The [`Embedded`] file at `$path` beneath lua/.
macro_rules! embedded_lua {
    ($path:literal) => {
        $crate::Embedded {
            code: include_bytes!(concat!(env!("OUT_DIR"), "/lua/", $path)),
            name: concat!("=", $path),
        }
    };
}
pub(crate) use embedded_lua;

/// The Lua half of the package.
const L4_LUA: Embedded = embedded_lua!("L4.lua");

/// The supervision library, `require("ned.supervise")` (docs/supervise.md).
const SUPERVISE_LUA: Embedded = embedded_lua!("ned/supervise.lua");

/// How scripts and handlers are called (lua/protect.lua).
const PROTECT_LUA: Embedded = embedded_lua!("protect.lua");

/// Registry key of the exit-handler dispatcher defined by L4.lua.
const DISPATCH_KEY: &str = "ned.L4.dispatch";
/// Registry key of L4.lua's dispatcher of readiness and timer events.
const DISPATCH_EVENT_KEY: &str = "ned.L4.dispatch_event";

/// Registry keys of the protected call and the error renderer of
/// lua/protect.lua.
const CALL_KEY: &str = "ned.L4.call";
const RENDER_KEY: &str = "ned.L4.render_error";

/// The error `os.exit` raises to unwind the script; never printed.
const EXIT_MARKER: &str = "os.exit: ned is shutting down";

/// ned's state as the bindings see it.
pub struct Host {
    pub sup: Supervisor,
    /// Directory the `rom` cap names.
    pub rom: PathBuf,
    /// Named caps ned was started with (`LISTEN_FDS`); they join `L4.Env`.
    pub inherited: Vec<(String, Cap)>,
}

/// The host, owned by Rust and shared with every native that needs it (each
/// captures an [`Arc`] of it). It is never kept in mlua's app data: a
/// finalizer that runs while the Lua state closes would reach app data
/// through a handle of the state being dropped. Teardown is ordered by
/// [`teardown`]: once `closing` is set, natives refuse, then the state
/// closes, then the host (and its supervisor) goes.
pub struct HostCell {
    host: Mutex<Host>,
    closing: AtomicBool,
    /// Tasks given up by a finalizer that ran while the host was busy.
    deferred: Mutex<Vec<TaskId>>,
    shutdown: Arc<Shutdown>,
}

/// A shared handle on the host.
pub type HostRef = Arc<HostCell>;

impl HostCell {
    pub fn new(host: Host) -> HostRef {
        let shutdown = host.sup.shutdown().clone();
        Arc::new(HostCell {
            host: Mutex::new(host),
            closing: AtomicBool::new(false),
            deferred: Mutex::new(Vec::new()),
            shutdown,
        })
    }

    /// The shutdown flag every check reads.
    pub fn shutdown(&self) -> &Arc<Shutdown> {
        &self.shutdown
    }

    /// Whether [`teardown`] began closing the main state.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Runs `f` with the host borrowed; never held across a call into Lua.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Host) -> R) -> Result<R, fail::Fail> {
        if self.closing.load(Ordering::Acquire) {
            return Err(fail::Fail::Msg("ned is closing its Lua state".into()));
        }
        let mut host = match self.host.try_lock() {
            Ok(h) => h,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(fail::Fail::Msg("ned is busy (re-entrant call)".into()));
            }
        };
        Ok(f(&mut host))
    }

    /// Gives a task up now, or — when a finalizer runs inside another
    /// native — at the loop's next turn.
    pub(crate) fn release(&self, id: TaskId) {
        if self.with(|h| h.sup.release(id)).is_err() && !self.closing.load(Ordering::Acquire) {
            lock(&self.deferred).push(id);
        }
    }

    fn release_deferred(&self) {
        let ids = std::mem::take(&mut *lock(&self.deferred));
        for id in ids {
            self.release(id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Wraps a native into the `ok, ...` convention of [`fail::finish`].
///
/// Every native captures the host, if only to see `closing`: a finalizer
/// that runs while the state closes must not touch a Lua value (mlua's
/// handles cannot reach a state being dropped), so then a native returns
/// nothing at once, which the Lua half reads as a failure.
fn native<R: mlua::IntoLuaMulti + 'static>(
    lua: &Lua,
    host: &HostRef,
    f: fn(&Lua, MultiValue) -> fail::Res<R>,
) -> mlua::Result<Function> {
    let host = host.clone();
    lua.create_function(move |lua, vals: MultiValue| {
        if host.is_closing() {
            return Ok(MultiValue::new());
        }
        fail::finish(lua, f(lua, vals))
    })
}

/// A native that needs the host itself.
fn hosted<R: mlua::IntoLuaMulti + 'static>(
    lua: &Lua,
    host: &HostRef,
    f: fn(&HostCell, &Lua, MultiValue) -> fail::Res<R>,
) -> mlua::Result<Function> {
    let host = host.clone();
    lua.create_function(move |lua, vals: MultiValue| {
        if host.is_closing() {
            return Ok(MultiValue::new());
        }
        fail::finish(lua, f(&host, lua, vals))
    })
}

/// [`hosted`] for a native with one result ([`fail::finish_one`]); while
/// the state closes it answers `false, nil`, a failure as well.
fn hosted_one(
    lua: &Lua,
    host: &HostRef,
    f: fn(&HostCell, &Lua, MultiValue) -> fail::Res<Value>,
) -> mlua::Result<Function> {
    let host = host.clone();
    lua.create_function(move |lua, vals: MultiValue| {
        if host.is_closing() {
            return Ok((false, Value::Nil));
        }
        fail::finish_one(lua, f(&host, lua, vals))
    })
}

/// `create` for a `self` L4.lua knows to be a cap ([`cap::create_on_cap`]):
/// the cap is borrowed from the stack, as [`hosted_one`] otherwise.
fn create_on_cap(lua: &Lua, host: &HostRef) -> mlua::Result<Function> {
    let host = host.clone();
    lua.create_function(
        move |lua, (fab, vals): (mlua::UserDataRef<cap::LuaCap>, MultiValue)| {
            if host.is_closing() {
                return Ok((false, Value::Nil));
            }
            fail::finish_one(lua, cap::create_on_cap(&host, lua, &fab.0, vals))
        },
    )
}

fn natives(lua: &Lua, host: &HostRef) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("mode", native(lua, host, cap::mode)?)?;
    t.set("svr", native(lua, host, cap::svr)?)?;
    t.set("is_valid", native(lua, host, cap::is_valid)?)?;
    t.set("kind", native(lua, host, cap::kind)?)?;
    t.set("cast", native(lua, host, cap::cast)?)?;
    t.set("new_channel", native(lua, host, cap::new_channel)?)?;
    t.set("dir_lookup", native(lua, host, cap::dir_lookup)?)?;
    t.set("ns_get", native(lua, host, cap::ns_get)?)?;
    t.set("ns_set", native(lua, host, cap::ns_set)?)?;
    t.set("ns_names", native(lua, host, cap::ns_names)?)?;
    t.set("create", hosted_one(lua, host, cap::create)?)?;
    t.set("create_on_cap", create_on_cap(lua, host)?)?;
    t.set("cap_kinds", cap::kinds_table(lua)?)?;
    t.set("ns_wait", hosted(lua, host, cap::ns_wait)?)?;
    t.set("unsupported", native(lua, host, cap::unsupported)?)?;
    t.set("start", hosted(lua, host, loader::start)?)?;
    t.set("task_state", hosted(lua, host, task::state)?)?;
    t.set("task_wait", hosted(lua, host, task::wait)?)?;
    t.set("task_release", hosted(lua, host, task::release)?)?;
    t.set("task_signal", hosted(lua, host, task::signal)?)?;
    t.set("task_pid", hosted(lua, host, task::pid)?)?;
    t.set("task_kill_tree", hosted(lua, host, task::kill_tree)?)?;
    t.set("log_hook", hosted(lua, host, hooks::log_hook)?)?;
    t.set("unhook", hosted(lua, host, hooks::unhook)?)?;
    t.set("on_signal", hosted(lua, host, signal::on_signal)?)?;
    t.set("sleep", hosted(lua, host, task::sleep)?)?;
    t.set("task_readiness", hosted(lua, host, task::readiness)?)?;
    t.set(
        "notify_strangers",
        hosted(lua, host, task::notify_strangers)?,
    )?;
    t.set("timer_add", hosted(lua, host, timer::add)?)?;
    t.set("timer_cancel", hosted(lua, host, timer::cancel)?)?;
    t.set("now", native(lua, host, timer::now)?)?;
    t.set("timeline", hosted(lua, host, timeline::native)?)?;
    t.set("shutting_down", hosted(lua, host, shutting_down)?)?;
    t.set("server_loop", command::server_loop(lua, host)?)?;
    t.set("arch", native(lua, host, info::arch)?)?;
    t.set("platform", native(lua, host, info::platform)?)?;
    t.set("mword_bits", native(lua, host, info::mword_bits)?)?;
    t.set("kip_str", native(lua, host, info::kip_str)?)?;
    t.set("env", hosted(lua, host, env_caps)?)?;
    t.set(
        "render_error",
        lua.named_registry_value::<Function>(RENDER_KEY)?,
    )?;
    t.set("script_level", native(lua, host, fail::script_level)?)?;
    socket::add(lua, host, &t)?;
    Ok(t)
}

/// ned's own initial caps (spec §6), built when `L4` is first required.
fn env_caps(host: &HostCell, lua: &Lua, _: MultiValue) -> fail::Res<Table> {
    let rom = host.with(|h| h.rom.clone())?;
    let t = lua.create_table()?;
    let rom = Object::directory(&rom).map_err(|e| fail::Fail::Msg(fail::chain(&e)))?;
    t.set("rom", cap::push(lua, Cap::new(rom, Rights::RWS))?)?;
    t.set(
        "log",
        cap::push(lua, Cap::new(Object::Log(None), Rights::RWS))?,
    )?;
    t.set(
        "factory",
        cap::push(lua, Cap::new(Object::Factory(None), Rights::RWS))?,
    )?;
    let mem = cap::push(lua, Cap::new(Object::Factory(None), Rights::RWS))?;
    t.set("mem_alloc", mem.clone())?;
    t.set("user_factory", mem)?;
    let sched = Object::Scheduler {
        prio_limit: 255,
        prio_base: 0,
        cpus: None,
    };
    t.set("scheduler", cap::push(lua, Cap::new(sched, Rights::RWS))?)?;
    t.set(
        "parent",
        cap::push(lua, Cap::new(Object::Parent, Rights::RWS))?,
    )?;
    t.set("rm", cap::push(lua, Cap::new(Object::Rm, Rights::RWS))?)?;
    for (name, c) in host.with(|h| h.inherited.clone())? {
        t.set(name, cap::push(lua, c)?)?;
    }
    Ok(t)
}

/// `L4.shutting_down()` (a Linux extra): whether ned is stopping, so an
/// exit handler can tell a crash from the end (spec: docs/l4.md).
fn shutting_down(host: &HostCell, _: &Lua, _: MultiValue) -> fail::Res<bool> {
    Ok(host.shutdown.check().is_some())
}

/// Installs `require("L4")`, the `rom/...` module searcher, ned's
/// `os.exit` and the signal check into the main state. Call once per main
/// state; the returned handle is what [`run`] and [`teardown`] take.
pub fn register(lua: &Lua, host: Host) -> mlua::Result<HostRef> {
    let host = HostCell::new(host);
    lunatik::register_foreign::<cap::LuaCap>();
    let (call, render): (Function, Function) = PROTECT_LUA.load(lua).call(())?;
    lua.set_named_registry_value(CALL_KEY, call)?;
    lua.set_named_registry_value(RENDER_KEY, render)?;
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    let h = host.clone();
    preload.set(
        "L4",
        lua.create_function(move |lua, ()| {
            // As lua.c does while it opens the standard libraries: no
            // collection while the package is built, all of which stays
            // alive (the collector's passes were a tenth of the load).
            let collecting = lua.gc_is_running();
            lua.gc_stop();
            let l4 = (|| {
                let chunk = L4_LUA.load(lua);
                // L4.lua fills in the method tables every cap's `__index` reads.
                let core = natives(lua, &h)?;
                core.set("methods", cap::methods_table(lua)?)?;
                let (l4, dispatch, dispatch_event): (Value, Function, Function) =
                    chunk.call(core)?;
                lua.set_named_registry_value(DISPATCH_KEY, dispatch)?;
                lua.set_named_registry_value(DISPATCH_EVENT_KEY, dispatch_event)?;
                Ok(l4)
            })();
            if collecting {
                lua.gc_restart();
            }
            l4
        })?,
    )?;
    preload.set(
        "ned.supervise",
        lua.create_function(|lua, ()| SUPERVISE_LUA.load(lua).call::<Value>(()))?,
    )?;
    tasks_info::preload(lua, &host)?;
    rom::install(lua, lock(&host.host).rom.clone())?;
    install_exit(lua, &host)?;
    interrupt_on_signals(lua, &host)?;
    Ok(host)
}

/// `os.exit([code])` in the main state starts ned's shutdown instead of
/// ending the process on the spot (which would orphan every task): the
/// status is recorded, the error [`EXIT_MARKER`] unwinds the running code
/// (and is raised again at every check, should `pcall` catch it), ned
/// terminates its tasks and runs their handlers, then exits with the status.
fn install_exit(lua: &Lua, host: &HostRef) -> mlua::Result<()> {
    let shutdown = host.shutdown.clone();
    let exit = lua.create_function(move |_, (code, _close): (Value, Value)| {
        let status = match code {
            Value::Nil | Value::Boolean(true) => 0,
            Value::Boolean(false) => 1,
            Value::Integer(n) => n as u8,
            Value::Number(n) if n.fract() == 0.0 => n as i64 as u8,
            other => {
                return Err(mlua::Error::runtime(format!(
                    "bad argument #1 to 'exit' (number or boolean expected, got {})",
                    fail::type_name(&other)
                )));
            }
        };
        shutdown.request(Reason::Exit(status));
        Err::<(), _>(mlua::Error::runtime(EXIT_MARKER))
    })?;
    let os: Table = lua.globals().get("os")?;
    os.set("exit", exit)
}

/// Whether `e` is the unwinding of `os.exit`, which is not an error to show.
pub fn is_exit(e: &mlua::Error) -> bool {
    lua_message(e).contains(EXIT_MARKER)
}

/// Calls `f` as ned calls the boot script, a `-e` statement and an exit
/// handler: an uncaught error table with a `msg` field becomes the error
/// `<msg> (code <code>)` (lua/protect.lua); results are dropped.
pub fn call(lua: &Lua, f: &Function, args: impl mlua::IntoLuaMulti) -> mlua::Result<()> {
    let protect: Function = lua.named_registry_value(CALL_KEY)?;
    let mut args = args.into_lua_multi(lua)?;
    args.push_front(Value::Function(f.clone()));
    protect.call(args)
}

/// Prints an uncaught error as `lua error: <msg>` on ned's stderr (its
/// console writer); the unwinding of `os.exit` is none.
pub fn report(e: &mlua::Error) {
    if is_exit(e) {
        return;
    }
    ned_core::diag!("lua error: {}", lua_message(e));
}

/// How many VM instructions run between two looks at the shutdown flag.
const SIGNAL_CHECK_INSTRUCTIONS: u32 = ned_core::control::TICK as u32;

/// ned reads its signals in its loop, so a boot script or an exit handler
/// that never returns would make ned deaf to them. A count hook on the main
/// thread checks the shutdown flag every [`SIGNAL_CHECK_INSTRUCTIONS`]
/// instructions and raises `interrupted by signal N` (or the `os.exit`
/// unwinding) in the running code; the flag stays set, so code that
/// catches the error with `pcall` is interrupted again at the next check.
/// The same hook stops a remote command that was cancelled or ran out of
/// its budget (crate::command); from then on it runs at every instruction
/// until the command's end, so a `pcall` in a loop cannot keep the command
/// alive: the error is raised again as soon as the `pcall` returns.
fn interrupt_on_signals(lua: &Lua, host: &HostRef) -> mlua::Result<()> {
    set_check_hook(lua, host, SIGNAL_CHECK_INSTRUCTIONS)
}

/// Installs the count hook of [`interrupt_on_signals`], run every `every`
/// instructions.
fn set_check_hook(lua: &Lua, host: &HostRef, every: u32) -> mlua::Result<()> {
    let triggers = mlua::HookTriggers::new().every_nth_instruction(every);
    let shutdown = host.shutdown.clone();
    let weak = Arc::downgrade(host);
    lua.set_hook(triggers, move |lua, _| {
        if let Some(e) = shutdown.check().and_then(interruption) {
            return Err(e);
        }
        let Some(host) = weak.upgrade() else {
            return Ok(mlua::VmState::Continue);
        };
        match command::check(&host) {
            Some(e) => {
                if every != 1 {
                    set_check_hook(lua, &host, 1)?;
                }
                Err(e)
            }
            None => Ok(mlua::VmState::Continue),
        }
    })
}

/// The error that unwinds running code when ned shuts down for `r`; none
/// for the normal end (handlers then run to completion).
fn interruption(r: Reason) -> Option<mlua::Error> {
    match r {
        Reason::Signal(sig) => Some(mlua::Error::runtime(format!("interrupted by signal {sig}"))),
        Reason::Exit(_) => Some(mlua::Error::runtime(EXIT_MARKER)),
        Reason::Done => None,
    }
}

/// What ned does after the boot script (spec §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Serve,
    WaitAndExit,
    Exit,
}

/// How long tasks get between SIGTERM and SIGKILL when ned shuts down.
pub const GRACE: Duration = Duration::from_secs(3);

/// Runs ned's loop in `mode`: dispatch exit handlers, keep logs flowing; on
/// shutdown (a signal, `os.exit`, or the end for `--exit`/`--wait-and-exit`)
/// terminate the tasks and run their handlers. Errors inside the loop are
/// printed and the loop goes on.
pub fn run(lua: &Lua, host: &HostRef, mode: Mode) {
    serve(lua, host, mode);
    let _ = host.with(|h| h.sup.terminate_all(GRACE));
    dispatch_pending(lua, host);
}

/// ned's loop until shutdown, or the end `mode` asks for: events are
/// dispatched (exit handlers, remote commands) and logs flow.
fn serve(lua: &Lua, host: &HostRef, mode: Mode) {
    loop {
        dispatch_pending(lua, host);
        if host.shutdown.check().is_some() {
            break;
        }
        let live = host
            .with(|h| h.sup.live() + h.sup.one_shot_timers())
            .unwrap_or(0);
        // `--wait-and-exit` waits for tasks and for one-shot timers.
        if mode == Mode::Exit || (mode == Mode::WaitAndExit && live == 0) {
            break;
        }
        match host.with(|h| h.sup.turn(None)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                ned_core::diag!("ned: {}", fail::chain(&e));
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => break,
        }
    }
}

/// The status `--exit-code-from` decided, once [`run`] returned (see
/// `Supervisor::exit_code_from`).
pub fn exit_code_from(host: &HostRef) -> Option<u8> {
    host.with(|h| h.sup.exit_code_from()).ok().flatten()
}

/// Closes the main state after [`run`], as ned's last act before it exits,
/// in order: natives (ned's and Lunatik's) are marked closing, so the
/// finalizers `lua_close` runs find them returning nothing instead of
/// reaching a state being freed; the state closes; then the host and its
/// supervisor go (every task is gone: [`run`] ended them). No sweep first,
/// unlike a runtime's `stop()`: the script's globals (`io`, `print`) stay
/// usable in its finalizers. The descriptors of the caps the script kept
/// are left to the exit ([`cap::leave_descriptors_to_exit`]).
pub fn teardown(lua: Lua, host: HostRef) {
    cap::leave_descriptors_to_exit();
    lunatik::close(lua, false, || host.closing.store(true, Ordering::Release));
    drop(host);
}

/// Dispatches every queued event, and the releases finalizers deferred.
fn dispatch_pending(lua: &Lua, host: &HostRef) {
    loop {
        host.release_deferred();
        let Ok(Some(e)) = host.with(|h| h.sup.next_event()) else {
            return;
        };
        dispatch(lua, host, e);
    }
}

/// Runs the handler of one event: an exit's exit handler, a taken
/// signal's `on_signal` handler, a task's `on_ready` callback, a timer's
/// function, or one remote command.
fn dispatch(lua: &Lua, host: &HostRef, e: Event) {
    let registered = |key| {
        lua.named_registry_value::<Option<Function>>(key)
            .ok()
            .flatten()
    };
    let called = match e {
        Event::Command(client) => return command::dispatch(lua, host, client),
        Event::Signal(sig) => {
            let Some((f, name)) = signal::handler(lua, sig) else {
                return;
            };
            call(lua, &f, name)
        }
        Event::Exited(id, ended) => {
            let Some(f) = registered(DISPATCH_KEY) else {
                return;
            };
            let (code, sig) = task::code_and_signal(ended);
            call(lua, &f, (id.0 as i64, code, sig))
        }
        Event::Ready(id) => {
            let Some(f) = registered(DISPATCH_EVENT_KEY) else {
                return;
            };
            call(lua, &f, ("ready", id.0 as i64))
        }
        Event::Timer(id) => {
            let Some(f) = registered(DISPATCH_EVENT_KEY) else {
                return;
            };
            call(lua, &f, ("timer", id.0 as i64))
        }
    };
    let Err(err) = called else {
        return;
    };
    if is_out_of_memory(&err) {
        // As for the boot script: a state out of memory cannot be trusted
        // to go on, so ned stops its tasks and exits 1.
        ned_core::diag!(
            "lua error: exit handler: not enough memory (see --lua-memory); stopping the tasks"
        );
        host.shutdown.request(Reason::Exit(1));
        return;
    }
    report(&err);
}

/// Whether `e` is Lua's memory error, raised directly or passed on as its
/// message by the protected call ned runs chunks in.
pub fn is_out_of_memory(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::MemoryError(_) => true,
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            is_out_of_memory(cause)
        }
        other => lua_message(other) == "not enough memory",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded files are bytecode (build.rs compiles them on a native
    /// build) with their debug information: the chunk keeps its name, so
    /// errors and tracebacks point into the source.
    #[test]
    fn embedded_lua_is_bytecode_that_keeps_its_names() {
        let lua = Lua::new();
        let files = [
            (L4_LUA, "=L4.lua"),
            (rom::RAISE_AS_STRING, "=rom_searcher.lua"),
            (SUPERVISE_LUA, "=ned/supervise.lua"),
            (PROTECT_LUA, "=protect.lua"),
            (cap::INDEX_LUA, "=cap_index.lua"),
            (tasks_info::PROMPT_LUA, "=prompt.lua"),
        ];
        for (file, name) in files {
            assert!(file.code.starts_with(b"\x1bLua"), "{name} is not bytecode");
            assert_eq!(file.name, name);
            // Loaded without a name: the one in the bytecode is build.rs's.
            let f = lua.load(file.code).into_function().expect(name);
            let source = f.info().source.expect("a source name");
            assert_eq!(source, name);
        }
    }
}
