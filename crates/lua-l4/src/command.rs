//! The Lua side of the remote command interface (spec §13; docs/prompt.md):
//! running one request's chunk in the main state, and `L4.server_loop`.
//!
//! A request is compiled with the chunk name `argument`, so its globals are
//! the script's. The reply is status 0 and the `tostring` of every result,
//! tab-joined; -22 and the message for a syntax error; -5 and the message
//! for a runtime error (an `{msg, code}` error table rendered as the boot
//! script's are). Commands are dispatched from [`crate::dispatch`], in the
//! same loop and queue as exit handlers: never while the script is in
//! `wait()` or asleep. The count hook stops a running command when its
//! client cancels or leaves, or when it exceeds its instruction budget.

use mlua::{Function, Lua, MultiValue, Value};
use ned_core::control::ClientId;
use ned_core::supervisor::Reason;

use crate::fail::{Fail, Res};
use crate::{HostCell, HostRef, RENDER_KEY};

/// Registry key of the runner built by [`RUNNER_LUA`].
const RUNNER_KEY: &str = "ned.L4.command";

/// Calls a compiled chunk under the error renderer of lua/protect.lua and
/// returns `true, results` (each through `tostring`, tab-joined) or
/// `false, error value` (a string, or an error raised by Rust: the count
/// hook's, `os.exit`'s).
const RUNNER_LUA: &str = r##"
local render = ...
local xpcall, tostring, select, concat = xpcall, tostring, select, table.concat
local function pack(ok, ...)
  if not ok then return false, (...) end
  local n = select("#", ...)
  if n == 1 then return true, tostring((...)) end
  local out = {}
  for i = 1, n do out[i] = tostring((select(i, ...))) end
  return true, concat(out, "\t")
end
return function(f) return pack(xpcall(f, render)) end
"##;

/// EINVAL and EIO, as upstream Ned answers.
pub const SYNTAX_ERROR: i32 = -22;
pub const RUNTIME_ERROR: i32 = -5;

/// Runs the request of `client` and sends its reply.
pub(crate) fn dispatch(lua: &Lua, host: &HostRef, client: ClientId) {
    let Ok(Some(chunk)) = host.with(|h| h.sup.take_command(client)) else {
        return;
    };
    // An error out of the runner itself is the count hook's, raised again
    // after the chunk's own `pcall` caught it: the command was stopped.
    let (status, text) = evaluate(lua, &chunk)
        .unwrap_or_else(|e| (RUNTIME_ERROR, crate::lua_message(&e).into_bytes()));
    let stopped = host.with(|h| h.sup.finish_command(client, status, &text));
    if matches!(stopped, Ok(true)) {
        let _ = crate::set_check_hook(lua, host, crate::SIGNAL_CHECK_INSTRUCTIONS);
    }
}

/// Status and text of one chunk.
fn evaluate(lua: &Lua, chunk: &[u8]) -> mlua::Result<(i32, Vec<u8>)> {
    let f = match lua.load(chunk).set_name("argument").into_function() {
        Ok(f) => f,
        Err(e) => return Ok((SYNTAX_ERROR, crate::lua_message(&e).into_bytes())),
    };
    let runner = match lua.named_registry_value::<Option<Function>>(RUNNER_KEY)? {
        Some(r) => r,
        None => {
            let render: Function = lua.named_registry_value(RENDER_KEY)?;
            let r: Function = lua.load(RUNNER_LUA).set_name("=command").call(render)?;
            lua.set_named_registry_value(RUNNER_KEY, &r)?;
            r
        }
    };
    let (ok, v): (bool, Value) = runner.call(f)?;
    let text = match &v {
        Value::String(s) => s.as_bytes().to_vec(),
        _ => match v.as_error() {
            Some(e) => crate::lua_message(e).into_bytes(),
            None => v.to_string()?.into_bytes(),
        },
    };
    Ok((if ok { 0 } else { RUNTIME_ERROR }, text))
}

/// For the count hook: the error that stops the running command, if it
/// must stop. A busy host (a native is running) is asked next time.
pub(crate) fn check(host: &HostCell) -> Option<mlua::Error> {
    host.with(|h| h.sup.command_stop())
        .ok()
        .flatten()
        .map(mlua::Error::runtime)
}

/// `L4.server_loop(cap)`: serves the command protocol on the channel `cap`
/// (its listening socket) and runs ned's loop until ned shuts down. A
/// signal is the normal end of a serving ned: `server_loop` returns and the
/// script ends as after a serve loop (status 0); after `os.exit` the script
/// is unwound as everywhere else.
pub(crate) fn server_loop(lua: &Lua, host: &HostRef) -> mlua::Result<Function> {
    let host = host.clone();
    lua.create_function(move |lua, vals: MultiValue| {
        if host.is_closing() {
            return Ok(MultiValue::new());
        }
        crate::fail::finish(lua, serve(lua, &host, vals))
    })
}

fn serve(lua: &Lua, host: &HostRef, vals: MultiValue) -> Res<()> {
    let args = crate::fail::Args::new("server_loop", vals, 0);
    let cap = crate::cap::cap_arg(&args, 1)?;
    let ned_core::Object::Channel(ch) = &*cap.object else {
        return Err(crate::fail::bad_arg(
            1,
            "server_loop",
            format!("channel expected, got {}", cap.kind()),
        ));
    };
    let listener = ch
        .server_end()
        .map_err(|e| Fail::Msg(format!("server_loop: {}", crate::fail::chain(&e))))?;
    host.with(|h| h.sup.serve_commands(listener))?
        .map_err(|e| Fail::Msg(format!("server_loop: failed to serve the channel: {e}")))?;
    crate::serve(lua, host, crate::Mode::Serve);
    match host.shutdown().check() {
        Some(Reason::Exit(_)) => Err(Fail::Msg(crate::EXIT_MARKER.to_owned())),
        Some(Reason::Signal(_) | Reason::Done) | None => Ok(()),
    }
}
