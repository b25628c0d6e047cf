//! Natives behind the `Task` class of lua/L4.lua (spec §12). The class keeps
//! the exit handlers; these functions ask the supervisor about the process.

use mlua::{Lua, MultiValue, Value};
use ned_core::supervisor::{Reason, TaskId, Until};
use ned_core::task::{Ended, State};

use crate::HostCell;

use crate::fail::{Args, Fail, Res, bad_arg, type_err};

fn id_arg(args: &Args<'_>) -> Res<TaskId> {
    let id = args.integer(1)?;
    u64::try_from(id)
        .map(TaskId)
        .map_err(|_| bad_arg(1, args.func, "invalid task id"))
}

/// The exit code and signal of an end, as the script sees them.
pub fn code_and_signal(e: Ended) -> (Option<i64>, Option<i64>) {
    match e {
        Ended::Code(c) => (Some(c as i64), None),
        Ended::Signal(s) => (None, Some(s as i64)),
        Ended::Lost => (None, None),
    }
}

/// `state, code, signal` of a task: `"running"`, `"zombie"` or nil.
pub fn state(
    host: &HostCell,
    lua: &Lua,
    vals: MultiValue,
) -> Res<(Value, Option<i64>, Option<i64>)> {
    let id = id_arg(&Args::new("state", vals, 0))?;
    let st = host.with(|h| h.sup.state(id))?;
    Ok(match st {
        None => (Value::Nil, None, None),
        Some(State::Running { .. }) => (Value::String(lua.create_string("running")?), None, None),
        Some(State::Zombie(e)) => {
            let (c, s) = code_and_signal(e);
            (Value::String(lua.create_string("zombie")?), c, s)
        }
    })
}

/// Blocks until the task exited, keeping logs flowing and recording other
/// exits for the serve loop (no handler runs meanwhile). Returns `code,
/// signal`; the task is released. A shutdown signal or `os.exit` elsewhere
/// interrupts the wait with an error.
///
/// With a second argument, a number of seconds (`task:wait(ms)` in L4.lua),
/// the wait ends then too: the task stays held and the third result is
/// `true` (timed out).
pub fn wait(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<(Option<i64>, Option<i64>, bool)> {
    let args = Args::new("wait", vals, 0);
    let id = id_arg(&args)?;
    let deadline = match args.get(2) {
        Value::Nil => None,
        Value::Number(s) => std::time::Duration::try_from_secs_f64(*s)
            .ok()
            .and_then(|d| std::time::Instant::now().checked_add(d)),
        other => return Err(type_err(2, "wait", "number", other)),
    };
    let running = move |s: &ned_core::supervisor::Supervisor| {
        !matches!(s.state(id), Some(State::Running { .. }))
    };
    host.with(|h| {
        let until = h.sup.run_until(deadline, true, running);
        interrupted("wait", until)?;
        if until == Until::Deadline {
            return Ok((None, None, true));
        }
        Ok(match h.sup.state(id) {
            Some(State::Zombie(e)) => {
                h.sup.release(id);
                let (c, s) = code_and_signal(e);
                (c, s, false)
            }
            _ => (None, None, false),
        })
    })?
}

/// The error that ends a blocking mode `func` when a signal or `os.exit`
/// stopped it.
fn interrupted(func: &str, until: Until) -> Res<()> {
    match until {
        Until::Shutdown(Reason::Signal(sig)) => {
            Err(Fail::Msg(format!("{func}: interrupted by signal {sig}")))
        }
        Until::Shutdown(Reason::Exit(_)) => Err(Fail::Msg(crate::EXIT_MARKER.to_owned())),
        Until::Shutdown(Reason::Done) | Until::Done | Until::Deadline => Ok(()),
    }
}

/// `core.sleep(seconds, text)` behind `L4.sleep`/`L4.msleep` (spec §15;
/// lua/L4.lua already returned for nil, non-numbers and `<= 0`): prints
/// `text` on ned's console, then turns the loop until `seconds` passed, so
/// logs keep flowing and exits are recorded, but no handler runs — as in
/// `wait()`. A signal or `os.exit` ends the sleep at once; a sleep too long
/// for the clock lasts until then.
pub fn sleep(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<()> {
    let args = Args::new("sleep", vals, 0);
    let Value::Number(secs) = args.get(1).clone() else {
        return Err(type_err(1, "sleep", "number", args.get(1)));
    };
    let text = args.string(2)?;
    let deadline = std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .and_then(|d| std::time::Instant::now().checked_add(d));
    // Through the console writer, as `print`: in order with the script's
    // output, and never blocking on a stalled console.
    if let Some(out) = ned_core::console::stdout() {
        out.write_lines(format!("{text}\n").as_bytes());
    }
    host.with(|h| interrupted("sleep", h.sup.run_until(deadline, true, |_| false)))?
}

/// Forgets a task for the script (after `kill()`, or from the task object's
/// finalizer).
pub fn release(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<()> {
    let id = id_arg(&Args::new("release", vals, 0))?;
    host.release(id);
    Ok(())
}

/// Sends a signal to a task that is still running.
pub fn signal(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<()> {
    let args = Args::new("kill", vals, 0);
    let id = id_arg(&args)?;
    let sig = args.integer(2)?;
    let sig = i32::try_from(sig)
        .ok()
        .filter(|s| (1..=64).contains(s))
        .ok_or_else(|| bad_arg(1, "kill", format!("invalid signal {sig}")))?;
    host.with(|h| h.sup.signal(id, sig))?
        .map_err(|e| Fail::Msg(crate::fail::chain(&e)))
}

/// Sends a signal to the task's whole tree: its process, its process group
/// and every descendant (`task:kill_tree(sig)` and `task:kill()`).
pub fn kill_tree(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<()> {
    let args = Args::new("kill_tree", vals, 0);
    let id = id_arg(&args)?;
    let sig = args.integer(2)?;
    let sig = i32::try_from(sig)
        .ok()
        .filter(|s| (1..=64).contains(s))
        .ok_or_else(|| bad_arg(1, "kill_tree", format!("invalid signal {sig}")))?;
    host.with(|h| h.sup.kill_tree(id, sig))?
        .map_err(|e| Fail::Msg(crate::fail::chain(&e)))
}

/// The task's process id (a Linux extra), nil once released.
pub fn pid(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<Option<i64>> {
    let id = id_arg(&Args::new("pid", vals, 0))?;
    host.with(|h| h.sup.state(id).and(h.sup.pid(id)).map(i64::from))
}

/// `ready, status, stopping` of a task started with `notify` (nil, nil,
/// false for one that does not notify, or ended): what its sd_notify
/// datagrams said (docs/readiness.md).
pub fn readiness(
    host: &HostCell,
    _: &Lua,
    vals: MultiValue,
) -> Res<(Option<bool>, Option<String>, bool)> {
    let id = id_arg(&Args::new("ready", vals, 0))?;
    host.with(|h| (h.sup.ready(id), h.sup.status(id), h.sup.stopping(id)))
}

/// `L4.notify_strangers()`: notify datagrams ned ignored because no
/// notifying task sent them.
pub fn notify_strangers(host: &HostCell, _: &Lua, _: MultiValue) -> Res<i64> {
    host.with(|h| h.sup.notify_strangers() as i64)
}
