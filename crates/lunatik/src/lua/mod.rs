//! The Lua layer: per-state context, the module loader installed in
//! `package.preload`, and the calling convention shared by every binding.
//!
//! Calling convention: a binding is a Rust function returning
//! `Result<MultiValue, Raise>`. It is registered as a raw mlua function that
//! never fails for API errors (it returns `true, results...` or
//! `false, message, level`), wrapped in a two-line Lua closure that calls
//! `error(message, level)`. So API errors reach Lua as plain strings with the
//! caller's `file:line`, exactly like Lua's own `bad argument` errors,
//! instead of mlua's wrapped error userdata.

pub mod args;
pub mod class;
pub mod completion;
pub mod data;
pub mod fifo;
pub mod rcu;
mod rcu_raw;
pub mod runtime;
pub mod set;
pub mod socket;
pub mod thread;

use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};

use mlua::{Function, Lua, MultiValue, Value};

use crate::Config;
use crate::error::Raise;
pub use args::Args;

/// One module of the crate: the name `require` knows it by, what builds its
/// table, and what makes its classes shareable.
struct Module {
    name: &'static str,
    open: fn(&Lua) -> mlua::Result<mlua::Table>,
    classes: fn(),
}

/// Every module, installed in `package.preload`. This list is the one place
/// that knows them all: a new module is its file plus a line here.
const MODULES: &[Module] = &[
    Module {
        name: "lunatik",
        open: runtime::module,
        classes: class::register_class::<runtime::Runtime>,
    },
    Module {
        name: "rcu",
        open: rcu::module,
        classes: class::register_class::<rcu::RcuTable>,
    },
    Module {
        name: "thread",
        open: thread::module,
        classes: class::register_class::<thread::KThread>,
    },
    Module {
        name: "data",
        open: data::module,
        classes: class::register_class::<data::DataObj>,
    },
    Module {
        name: "fifo",
        open: fifo::module,
        classes: class::register_class::<fifo::FifoObj>,
    },
    Module {
        name: "completion",
        open: completion::module,
        classes: class::register_class::<completion::CompletionObj>,
    },
    Module {
        name: "set",
        open: set::module,
        classes: set::classes,
    },
    Module {
        name: "socket",
        open: socket::module,
        classes: class::register_class::<socket::SocketObj>,
    },
    Module {
        name: "socket.inet",
        open: |lua| {
            lua_module(
                lua,
                "socket.inet",
                include_str!("../../lua/socket/inet.lua"),
            )
        },
        classes: no_classes,
    },
    Module {
        name: "socket.unix",
        open: |lua| {
            lua_module(
                lua,
                "socket.unix",
                include_str!("../../lua/socket/unix.lua"),
            )
        },
        classes: no_classes,
    },
    Module {
        name: "lunatik.runner",
        open: |lua| {
            lua_module(
                lua,
                "lunatik.runner",
                include_str!("../../lua/lunatik/runner.lua"),
            )
        },
        classes: no_classes,
    },
    Module {
        name: "linux",
        open: |lua| lua_module(lua, "linux", include_str!("../../lua/linux.lua")),
        classes: no_classes,
    },
];

fn no_classes() {}

/// A module written in Lua, shipped inside the crate.
fn lua_module(lua: &Lua, name: &str, src: &str) -> mlua::Result<mlua::Table> {
    lua.load(src).set_name(format!("={name}")).call(())
}

/// Registers the classes of [`MODULES`], once per process, before any state
/// can make one of their objects.
fn register_classes() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| MODULES.iter().for_each(|m| (m.classes)()));
}

/// Per-state context, kept as mlua app data. It is read only while the
/// state is whole: every entry from Lua into a binding first checks
/// `closing`, a flag each entry captured when it was made, because while a
/// state closes mlua's handles on it can no longer be used (app-data
/// accessors clone the `Lua` being dropped, value handles fail to upgrade
/// their reference to it).
pub(crate) struct Ctx {
    pub(crate) config: Arc<Config>,
    pub(crate) sleep: bool,
    closing: Arc<AtomicBool>,
    wrap: OnceCell<Function>,
    /// Set once a lunatik module was loaded or a handle pushed here: only
    /// then can `__gc` finalizers reach lunatik objects, so only then does
    /// closing the state need its finalizer pass (see `runtime.rs`).
    pub(crate) touched: std::sync::atomic::AtomicBool,
}

/// Marks `lua` as holding lunatik objects or modules.
pub(crate) fn touch(lua: &Lua) {
    if let Some(c) = lua.app_data_ref::<Ctx>() {
        c.touched.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether [`touch`] was called on `lua`.
pub(crate) fn touched(lua: &Lua) -> bool {
    lua.app_data_ref::<Ctx>()
        .is_none_or(|c| c.touched.load(std::sync::atomic::Ordering::Relaxed))
}

/// Whether `lua` may block. States without a context (never registered)
/// count as sleepable.
pub(crate) fn sleepable(lua: &Lua) -> bool {
    lua.app_data_ref::<Ctx>().is_none_or(|c| c.sleep)
}

/// Raises when `lua` is non-sleepable: `op` would block.
pub(crate) fn may_block(lua: &Lua, op: &str) -> Result<(), Raise> {
    if sleepable(lua) {
        Ok(())
    } else {
        Err(Raise::not_sleepable(op))
    }
}

pub(crate) fn config(lua: &Lua) -> Result<Arc<Config>, Raise> {
    lua.app_data_ref::<Ctx>()
        .map(|c| c.config.clone())
        .ok_or_else(|| Raise::new("lunatik is not registered in this state"))
}

/// The closing flag of `lua` (a fresh one for a state without context).
fn closing_flag(lua: &Lua) -> Arc<AtomicBool> {
    lua.app_data_ref::<Ctx>()
        .map(|c| c.closing.clone())
        .unwrap_or_default()
}

/// Closes a state in order. First, while it is whole, the globals and
/// loaded modules are dropped and the collector runs, so the finalizers of
/// everything the script kept run with every binding working (a `__gc` that
/// writes to an rcu table, say). Then the state is marked closing and
/// dropped: whatever `lua_close` still finalizes (objects the registry
/// kept, finalizers that re-armed themselves) finds bindings that return
/// nothing instead of reaching a state being freed. `sweep` is false for a
/// state that never held a lunatik object or module, whose finalizers then
/// cannot reach a binding anyway. `closing` runs just before the drop, for
/// the host to mark its own bindings closing too.
pub fn close(lua: Lua, sweep: bool, closing: impl FnOnce()) {
    if sweep {
        let _ = (|| -> mlua::Result<()> {
            let loaded: mlua::Table = lua.named_registry_value("_LOADED")?;
            for t in [lua.globals(), loaded] {
                let keys = t
                    .pairs::<Value, Value>()
                    .map(|kv| kv.map(|(k, _)| k))
                    .collect::<mlua::Result<Vec<_>>>()?;
                for k in keys {
                    t.raw_set(k, Value::Nil)?;
                }
            }
            lua.gc_collect()?;
            lua.gc_collect()
        })();
    }
    closing_flag(&lua).store(true, Ordering::Release);
    closing();
    drop(lua);
}

/// Installs the context and the lazy module loader into `lua`.
pub(crate) fn install(lua: &Lua, config: Arc<Config>, sleep: bool) -> mlua::Result<()> {
    let closing = Arc::new(AtomicBool::new(false));
    lua.set_app_data(Ctx {
        config,
        sleep,
        closing: closing.clone(),
        wrap: OnceCell::new(),
        touched: Default::default(),
    });
    let loader = lua.create_function(move |lua, args: MultiValue| {
        if closing.load(Ordering::Acquire) {
            return Ok(Value::Nil);
        }
        load_module(lua, args)
    })?;
    let package: mlua::Table = lua.globals().get("package")?;
    let preload: mlua::Table = package.get("preload")?;
    register_classes();
    for m in MODULES {
        preload.raw_set(m.name, loader.clone())?;
    }
    Ok(())
}

fn load_module(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    touch(lua);
    let name = match args.front() {
        Some(Value::String(s)) => s.to_str()?.to_owned(),
        _ => return Ok(Value::Nil),
    };
    match MODULES.iter().find(|m| m.name == name) {
        Some(m) => (m.open)(lua).map(Value::Table),
        None => Ok(Value::Nil),
    }
}

const WRAP: &str = r#"
local error = error
local function check(ok, ...)
  if ok then return ... end
  local msg, level = ...
  error(msg, level)
end
return function(raw) return function(...) return check(raw(...)) end end
"#;

fn wrapper(lua: &Lua) -> mlua::Result<Function> {
    if let Some(ctx) = lua.app_data_ref::<Ctx>()
        && let Some(f) = ctx.wrap.get()
    {
        return Ok(f.clone());
    }
    let f: Function = lua.load(WRAP).set_name("=lunatik").call(())?;
    if let Some(ctx) = lua.app_data_ref::<Ctx>() {
        let _ = ctx.wrap.set(f.clone());
    }
    Ok(f)
}

/// Builds a Lua function named `name` (used in `bad argument` messages)
/// from a binding following the calling convention above.
pub fn function<F>(lua: &Lua, name: &'static str, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Args) -> Result<MultiValue, Raise> + Send + 'static,
{
    let raw = raw_function(lua, name, f)?;
    wrapper(lua)?.call(raw)
}

/// The unwrapped form of [`function`]: returns `true, results...` or
/// `false, message, level` (2 when the caller's position is to be
/// prepended, 0 otherwise). For callers that raise errors themselves, such
/// as the raw `__index` of rcu tables.
pub(crate) fn raw_function<F>(lua: &Lua, name: &'static str, f: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Args) -> Result<MultiValue, Raise> + Send + 'static,
{
    let closing = closing_flag(lua);
    lua.create_function(move |lua, mv: MultiValue| {
        if closing.load(Ordering::Acquire) {
            return Ok(MultiValue::new());
        }
        Ok(match f(lua, Args::new(name, mv)) {
            Ok(mut out) => {
                out.push_front(Value::Boolean(true));
                out
            }
            Err(r) => MultiValue::from_vec(vec![
                Value::Boolean(false),
                match r.errno {
                    Some(e) => Value::Integer(i64::from(e)),
                    None => Value::String(lua.create_string(&r.msg)?),
                },
                Value::Integer(if r.located { 2 } else { 0 }),
            ]),
        })
    })
}

/// Packs results.
pub(crate) fn ret(vals: impl IntoIterator<Item = Value>) -> MultiValue {
    vals.into_iter().collect()
}

pub(crate) fn none() -> MultiValue {
    MultiValue::new()
}
