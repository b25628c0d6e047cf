//! `L4.on_signal(name, fn)` (a Linux extra): the script takes SIGHUP,
//! SIGUSR1 or SIGUSR2 from ned, typically to reload, or SIGTERM or SIGINT,
//! to shut down in its own order (`sv:stop()`, then `os.exit`). A taken
//! SIGHUP, SIGTERM or SIGINT no longer shuts ned down; a taken user signal
//! is no longer reported as ignored. Each arrival is queued by the loop as
//! [`ned_core::supervisor::Event::Signal`] and the handler runs, as an exit
//! handler does, from ned's serve loop (signals of one kind that arrive
//! together run it once, as the kernel merges them). `fn == nil` gives the
//! signal back.

use mlua::{Function, Lua, MultiValue, Table, Value};
use ned_core::shutdown::{TAKEABLE_SIGNALS, signal_name};

use crate::HostCell;
use crate::fail::{Args, Fail, Res, bad_arg, chain, type_err};

/// Registry key of the table of handlers by signal number.
const HANDLERS_KEY: &str = "ned.L4.signal_handlers";

/// The signal a script names: `"HUP"`, `"SIGHUP"` or its number.
fn signal_of(v: &Value) -> Res<i32> {
    let sig = match v {
        Value::Integer(n) => i32::try_from(*n).unwrap_or(0),
        Value::String(s) => {
            let name = s.to_str()?.to_ascii_uppercase();
            let name = name.strip_prefix("SIG").unwrap_or(&name);
            TAKEABLE_SIGNALS
                .into_iter()
                .find(|&sig| signal_name(sig) == format!("SIG{name}"))
                .unwrap_or(0)
        }
        other => return Err(type_err(1, "on_signal", "signal name or number", other)),
    };
    if TAKEABLE_SIGNALS.contains(&sig) {
        return Ok(sig);
    }
    let shown = match v {
        Value::String(s) => format!("'{}'", s.to_string_lossy()),
        Value::Integer(n) => n.to_string(),
        _ => String::new(),
    };
    Err(bad_arg(
        1,
        "on_signal",
        format!("only HUP, USR1, USR2, TERM and INT can be taken from ned, got {shown}"),
    ))
}

fn handlers(lua: &Lua) -> mlua::Result<Table> {
    if let Some(t) = lua.named_registry_value::<Option<Table>>(HANDLERS_KEY)? {
        return Ok(t);
    }
    let t = lua.create_table()?;
    lua.set_named_registry_value(HANDLERS_KEY, &t)?;
    Ok(t)
}

/// `core.on_signal(sig, fn | nil)`; returns true.
pub fn on_signal(host: &HostCell, lua: &Lua, vals: MultiValue) -> Res<bool> {
    let args = Args::new("on_signal", vals, 0);
    let sig = signal_of(args.get(1))?;
    let f = match args.get(2) {
        Value::Nil => None,
        Value::Function(f) => Some(f.clone()),
        other => return Err(type_err(2, "on_signal", "function or nil", other)),
    };
    host.shutdown()
        .take(sig, f.is_some())
        .map_err(|e| Fail::Msg(format!("on_signal: {}", chain(&e))))?;
    handlers(lua)?.raw_set(sig, f)?;
    Ok(true)
}

/// The handler for `sig` and the name it is called with (`"HUP"`).
pub fn handler(lua: &Lua, sig: i32) -> Option<(Function, String)> {
    let f: Option<Function> = handlers(lua).ok()?.raw_get(sig).ok()?;
    let name = signal_name(sig);
    Some((f?, name.trim_start_matches("SIG").to_owned()))
}
