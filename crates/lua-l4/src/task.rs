//! Natives behind the `Task` class of lua/L4.lua (spec §12). The class keeps
//! the exit handlers; these functions ask the supervisor about the process.

use mlua::{Lua, MultiValue, Value};
use ned_core::supervisor::Exit;
use ned_core::supervisor::{Event, TaskId, TaskState};

use crate::fail::{Args, Fail, Res, bad_arg};
use crate::with_host;

fn id_arg(args: &Args<'_>) -> Res<TaskId> {
    let id = args.integer(1)?;
    u64::try_from(id)
        .map(TaskId)
        .map_err(|_| bad_arg(1, args.func, "invalid task id"))
}

/// The exit code and signal of an exit, as the script sees them.
pub fn code_and_signal(exit: Exit) -> (Option<i64>, Option<i64>) {
    match exit {
        Exit::Code(c) => (Some(c as i64), None),
        Exit::Signal(s) => (None, Some(s as i64)),
    }
}

/// `state, code, signal` of a task: `"running"`, `"zombie"` or nil.
pub fn state(lua: &Lua, vals: MultiValue) -> Res<(Value, Option<i64>, Option<i64>)> {
    let id = id_arg(&Args::new("state", vals, 0))?;
    let st = with_host(lua, |h| h.sup.state(id))?;
    Ok(match st {
        None => (Value::Nil, None, None),
        Some(TaskState::Running) => (Value::String(lua.create_string("running")?), None, None),
        Some(TaskState::Zombie(exit)) => {
            let (c, s) = code_and_signal(exit);
            (Value::String(lua.create_string("zombie")?), c, s)
        }
    })
}

/// Blocks until the task exited, keeping logs flowing; other exits and
/// signals are queued for the serve loop. Returns `code, signal`; the task is
/// released. A shutdown signal interrupts the wait with an error.
pub fn wait(lua: &Lua, vals: MultiValue) -> Res<(Option<i64>, Option<i64>)> {
    let id = id_arg(&Args::new("wait", vals, 0))?;
    loop {
        let step = with_host(lua, |h| -> Res<Option<Option<Exit>>> {
            match h.sup.state(id) {
                None => return Ok(Some(None)),
                Some(TaskState::Zombie(exit)) => {
                    h.sup.release(id);
                    return Ok(Some(Some(exit)));
                }
                Some(TaskState::Running) => {}
            }
            let events = h
                .sup
                .poll(None)
                .map_err(|e| Fail::Msg(crate::fail::chain(&e)))?;
            let mut interrupted = None;
            for e in events {
                if let Event::Signal(sig) = e {
                    interrupted = Some(sig);
                }
                h.pending.push_back(e);
            }
            match interrupted {
                Some(sig) => Err(Fail::Msg(format!("wait: interrupted by signal {sig}"))),
                None => Ok(None),
            }
        })??;
        match step {
            Some(Some(exit)) => return Ok(code_and_signal(exit)),
            Some(None) => return Ok((None, None)),
            None => continue,
        }
    }
}

/// Forgets a task for the script (after `kill()`).
pub fn release(lua: &Lua, vals: MultiValue) -> Res<()> {
    let id = id_arg(&Args::new("release", vals, 0))?;
    with_host(lua, |h| h.sup.release(id))?;
    Ok(())
}

/// Sends a signal to a task that is still running.
pub fn signal(lua: &Lua, vals: MultiValue) -> Res<()> {
    let args = Args::new("kill", vals, 0);
    let id = id_arg(&args)?;
    let sig = args.integer(2)?;
    let sig = i32::try_from(sig)
        .ok()
        .filter(|s| (1..=64).contains(s))
        .ok_or_else(|| bad_arg(1, "kill", format!("invalid signal {sig}")))?;
    with_host(lua, |h| h.sup.signal(id, sig))?.map_err(|e| Fail::Msg(crate::fail::chain(&e)))
}

/// The task's process id (a Linux extra), nil once released.
pub fn pid(lua: &Lua, vals: MultiValue) -> Res<Option<i64>> {
    let id = id_arg(&Args::new("pid", vals, 0))?;
    with_host(lua, |h| h.sup.state(id).and(h.sup.pid(id)).map(i64::from))
}
