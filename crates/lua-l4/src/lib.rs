//! The `L4` package: Lua bindings over ned-core.
//!
//! `register` installs `require("L4")` lazily (an empty script never pays for
//! it). The package is built from two halves: the natives in this crate (one
//! file per Lua class) and lua/L4.lua, the Lua half that upstream keeps as
//! `ned.lua`, embedded at build time. The natives are handed to L4.lua as one
//! table; scripts never see them directly.

mod cap;
mod fail;
mod info;
mod loader;
mod task;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use mlua::{Function, Lua, MultiValue, Table, Value};
use ned_core::cap::Object;
use ned_core::supervisor::{Event, Supervisor};
use ned_core::{Cap, Rights};

pub use fail::lua_message;

/// The Lua half of the package.
const L4_LUA: &str = include_str!("../lua/L4.lua");

/// Registry key of the exit-handler dispatcher defined by L4.lua.
const DISPATCH_KEY: &str = "ned.L4.dispatch";

/// ned's state as the bindings see it; kept in the Lua state's app data.
pub struct Host {
    pub sup: Supervisor,
    /// Directory the `rom` cap names.
    pub rom: PathBuf,
    /// Events seen while the script was inside `wait()`, to dispatch later.
    pub pending: VecDeque<Event>,
    /// Named caps ned was started with (`LISTEN_FDS`); they join `L4.Env`.
    pub inherited: Vec<(String, Cap)>,
}

/// Runs `f` with the host borrowed; never held across a call into Lua.
pub(crate) fn with_host<R>(lua: &Lua, f: impl FnOnce(&mut Host) -> R) -> Result<R, fail::Fail> {
    let mut host = lua
        .try_app_data_mut::<Host>()
        .map_err(|_| fail::Fail::Msg("ned is busy (re-entrant call)".into()))?
        .ok_or_else(|| fail::Fail::Msg("ned host is not set up".into()))?;
    Ok(f(&mut host))
}

/// Wraps a native into the `ok, ...` convention of [`fail::finish`].
fn native<R: mlua::IntoLuaMulti + 'static>(
    lua: &Lua,
    f: fn(&Lua, MultiValue) -> fail::Res<R>,
) -> mlua::Result<Function> {
    lua.create_function(move |lua, vals: MultiValue| fail::finish(lua, f(lua, vals)))
}

fn natives(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("mode", native(lua, cap::mode)?)?;
    t.set("svr", native(lua, cap::svr)?)?;
    t.set("is_valid", native(lua, cap::is_valid)?)?;
    t.set("kind", native(lua, cap::kind)?)?;
    t.set("cast", native(lua, cap::cast)?)?;
    t.set("new_channel", native(lua, cap::new_channel)?)?;
    t.set("dir_lookup", native(lua, cap::dir_lookup)?)?;
    t.set("ns_get", native(lua, cap::ns_get)?)?;
    t.set("ns_set", native(lua, cap::ns_set)?)?;
    t.set("ns_names", native(lua, cap::ns_names)?)?;
    t.set("create", native(lua, cap::create)?)?;
    t.set("unsupported", native(lua, cap::unsupported)?)?;
    t.set("start", native(lua, loader::start)?)?;
    t.set("task_state", native(lua, task::state)?)?;
    t.set("task_wait", native(lua, task::wait)?)?;
    t.set("task_release", native(lua, task::release)?)?;
    t.set("task_signal", native(lua, task::signal)?)?;
    t.set("task_pid", native(lua, task::pid)?)?;
    t.set("arch", native(lua, info::arch)?)?;
    t.set("platform", native(lua, info::platform)?)?;
    t.set("mword_bits", native(lua, info::mword_bits)?)?;
    t.set("kip_str", native(lua, info::kip_str)?)?;
    t.set("env", native(lua, env_caps)?)?;
    t.set("script_level", native(lua, fail::script_level)?)?;
    Ok(t)
}

/// ned's own initial caps (spec §6), built when `L4` is first required.
fn env_caps(lua: &Lua, _: MultiValue) -> fail::Res<Table> {
    let rom = with_host(lua, |h| h.rom.clone())?;
    let t = lua.create_table()?;
    let rom = Object::directory(&rom).map_err(|e| fail::Fail::Msg(fail::chain(&e)))?;
    t.set("rom", cap::push(lua, Cap::new(rom, Rights::RWS))?)?;
    t.set(
        "log",
        cap::push(lua, Cap::new(Object::Log(None), Rights::RWS))?,
    )?;
    t.set(
        "factory",
        cap::push(lua, Cap::new(Object::Factory, Rights::RWS))?,
    )?;
    let mem = cap::push(lua, Cap::new(Object::Factory, Rights::RWS))?;
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
    for (name, c) in with_host(lua, |h| h.inherited.clone())? {
        t.set(name, cap::push(lua, c)?)?;
    }
    Ok(t)
}

/// Installs `require("L4")` and the `rom/...` module searcher, and stores
/// the host. Call once per main state.
pub fn register(lua: &Lua, host: Host) -> mlua::Result<()> {
    lua.set_app_data(host);
    lunatik::register_foreign::<cap::LuaCap>();
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    preload.set(
        "L4",
        lua.create_function(|lua, ()| {
            let chunk = lua.load(L4_LUA).set_name(fail::L4_CHUNK);
            // L4.lua fills the method tables in; caps index them from the
            // registry, so they must be there before the chunk runs.
            let methods = lua.create_table()?;
            lua.set_named_registry_value(cap::METHODS_KEY, &methods)?;
            let core = natives(lua)?;
            core.set("methods", methods)?;
            let (l4, dispatch): (Value, Function) = chunk.call(core)?;
            lua.set_named_registry_value(DISPATCH_KEY, dispatch)?;
            Ok(l4)
        })?,
    )?;
    // `require("rom/x")` loads `<rom>/x.lua`.
    let searchers: Table = package.get("searchers")?;
    let searcher = lua.create_function(|lua, name: String| {
        let Some(rest) = name.strip_prefix("rom/") else {
            return Ok(MultiValue::new());
        };
        let rom = lua
            .app_data_ref::<Host>()
            .map(|h| h.rom.clone())
            .unwrap_or_default();
        let path = rom.join(format!("{rest}.lua"));
        if rest.split('/').any(|c| c == ".." || c.is_empty()) {
            return lua.pack_multi(format!("\n\tno rom module '{name}'"));
        }
        match std::fs::read(&path) {
            Ok(src) => {
                let f = lua
                    .load(src)
                    .set_name(format!("@{}", path.display()))
                    .into_function()?;
                lua.pack_multi((f, path.display().to_string()))
            }
            Err(_) => lua.pack_multi(format!("\n\tno file '{}'", path.display())),
        }
    })?;
    searchers.raw_insert(2, searcher)?;
    interrupt_on_signals(lua)
}

/// How many VM instructions run between two looks at ned's signals.
const SIGNAL_CHECK_INSTRUCTIONS: u32 = 1 << 20;

/// ned reads SIGTERM/SIGINT/SIGHUP only in its loop, so a boot script or an
/// exit handler that never returns would make ned deaf to them. A count hook
/// on the main thread looks at the signalfd every
/// [`SIGNAL_CHECK_INSTRUCTIONS`] instructions; a pending shutdown signal
/// raises `interrupted by signal N` in the running code and the loop then
/// shuts down as usual. (Code that catches every error with `pcall` in a
/// loop is interrupted again at each check, but can still keep running.)
fn interrupt_on_signals(lua: &Lua) -> mlua::Result<()> {
    let triggers = mlua::HookTriggers::new().every_nth_instruction(SIGNAL_CHECK_INSTRUCTIONS);
    lua.set_hook(triggers, |lua, _| {
        let sig = with_host(lua, |h| {
            if let Some(sig) = h.sup.take_signal() {
                h.pending.push_back(Event::Signal(sig));
            }
            h.pending.iter().find_map(|e| match e {
                Event::Signal(s) => Some(*s),
                Event::Exited(..) => None,
            })
        });
        match sig {
            Ok(Some(sig)) => Err(mlua::Error::runtime(format!("interrupted by signal {sig}"))),
            _ => Ok(mlua::VmState::Continue),
        }
    })
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

/// Runs ned's loop in `mode`: dispatch exit handlers, keep logs flowing; on a
/// shutdown signal (or at the end for `--exit`/`--wait-and-exit`) terminate
/// the tasks and run their handlers. Errors inside the loop are printed and
/// the loop goes on.
pub fn run(lua: &Lua, mode: Mode) -> mlua::Result<()> {
    loop {
        let pending: Vec<Event> = match lua.app_data_mut::<Host>() {
            Some(mut h) => h.pending.drain(..).collect(),
            None => return Ok(()),
        };
        let mut stop = false;
        for e in pending {
            stop |= dispatch(lua, e);
        }
        let live = lua
            .app_data_ref::<Host>()
            .map(|h| h.sup.live())
            .unwrap_or(0);
        if stop || mode == Mode::Exit || (mode == Mode::WaitAndExit && live == 0) {
            break;
        }
        let polled = lua
            .app_data_mut::<Host>()
            .map(|mut h| h.sup.poll(None))
            .transpose();
        match polled {
            Ok(Some(events)) => {
                if let Some(mut h) = lua.app_data_mut::<Host>() {
                    h.pending.extend(events);
                }
            }
            Ok(None) => return Ok(()),
            Err(e) => ned_core::diag!("ned: {}", fail::chain(&e)),
        }
    }
    let exits = lua
        .app_data_mut::<Host>()
        .map(|mut h| h.sup.shutdown(GRACE))
        .unwrap_or_default();
    for e in exits {
        dispatch(lua, e);
    }
    Ok(())
}

/// Handles one event; returns true for a shutdown signal.
fn dispatch(lua: &Lua, e: Event) -> bool {
    match e {
        Event::Signal(_) => true,
        Event::Exited(id, exit) => {
            let Ok(Some(f)) = lua.named_registry_value::<Option<Function>>(DISPATCH_KEY) else {
                return false;
            };
            let (code, sig) = task::code_and_signal(exit);
            if let Err(err) = f.call::<()>((id.0 as i64, code, sig)) {
                ned_core::diag!("lua error: {}", lua_message(&err));
            }
            false
        }
    }
}
