//! The native facts behind the prompt's helpers (`require("ned.prompt")`,
//! lua/prompt.lua; docs/prompt-helpers.md): one record per task the
//! supervisor knows, with what `/proc/<pid>/stat` says of its CPU time and
//! resident memory, and the recent lines of a task's log.
//!
//! The module is preloaded, not loaded: a script that never asks for it
//! pays nothing. Its natives follow the `ok, ...` convention of
//! [`crate::fail::finish`]; prompt.lua lifts them.

use std::time::Instant;

use mlua::{Function, Lua, MultiValue, Table, Value};
use ned_core::supervisor::{TaskId, TaskView};
use ned_core::task::{Ended, State};

use crate::fail::{Args, Res, bad_arg};
use crate::{HostCell, HostRef, hosted};

/// The Lua half of the helpers.
pub(crate) const PROMPT_LUA: crate::Embedded = crate::embedded_lua!("prompt.lua");

/// Most log lines one `log_tail` call asks for (ned keeps fewer).
const MAX_TAIL: i64 = 10_000;

/// Installs `require("ned.prompt")` into the main state.
pub(crate) fn preload(lua: &Lua, host: &HostRef) -> mlua::Result<()> {
    let package: Table = lua.globals().get("package")?;
    let preload: Table = package.get("preload")?;
    let h = host.clone();
    preload.set(
        "ned.prompt",
        lua.create_function(move |lua, ()| {
            let core = lua.create_table()?;
            core.set("tasks", hosted(lua, &h, tasks)?)?;
            core.set("log_tail", hosted(lua, &h, log_tail)?)?;
            core.set("rows", hosted(lua, &h, rows)?)?;
            core.set("signal", hosted(lua, &h, crate::task::signal)?)?;
            let l4: Value = lua.globals().get::<Function>("require")?.call("L4")?;
            PROMPT_LUA.load(lua).call::<Value>((core, l4))
        })?,
    )
}

/// What `/proc/<pid>/stat` says of a live process: CPU seconds (user +
/// system) and resident bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Usage {
    pub cpu: f64,
    pub rss: u64,
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) may
/// hold spaces, parentheses and bytes that are not UTF-8, so fields are
/// counted after its last `)`.
pub(crate) fn parse_stat(text: &[u8], ticks_per_sec: u64, page: u64) -> Option<Usage> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let fields: Vec<&[u8]> = text[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty())
        .collect();
    // After `)`: field 3 (state) is index 0, so field n is index n - 3.
    let num = |n: usize| {
        std::str::from_utf8(fields.get(n - 3)?)
            .ok()?
            .parse::<u64>()
            .ok()
    };
    let ticks = num(14)? + num(15)?;
    let rss = num(24)?;
    Some(Usage {
        cpu: ticks as f64 / ticks_per_sec.max(1) as f64,
        rss: rss * page,
    })
}

/// Reads `/proc/<pid>/stat` with one `read` into a stack buffer (the file
/// is a few hundred bytes): the live view asks this of every task every
/// second, so it is kept to open, read, close.
fn usage(pid: i32) -> Option<Usage> {
    use std::io::Read;
    let mut buf = [0u8; 2048];
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    parse_stat(
        &buf[..n],
        rustix::param::clock_ticks_per_second(),
        rustix::param::page_size() as u64,
    )
}

/// `core.tasks(with_caps)`: an array of records, in start order —
/// `id, tag, pid, state ("running" or "exited"), uptime` (seconds, up to
/// the exit for an exited task), `code, signal` (once exited), `exit`
/// (`code N`, `signal N`, `lost`, or empty while running), `cpu, rss`
/// (while running, when /proc can tell), `lines` (log lines so far) and,
/// when asked, `caps`: an array of `{name, type, rights}`.
fn tasks(host: &HostCell, lua: &Lua, vals: MultiValue) -> Res<Table> {
    let args = Args::new("tasks", vals, 0);
    let with_caps = args.get(1).as_boolean().unwrap_or(false);
    let now = Instant::now();
    let out = lua.create_table()?;
    host.with(|h| -> Res<()> {
        for (i, t) in h.sup.tasks().into_iter().enumerate() {
            out.raw_set(i + 1, record(lua, &t, now, with_caps)?)?;
        }
        Ok(())
    })??;
    Ok(out)
}

fn record(lua: &Lua, t: &TaskView<'_>, now: Instant, with_caps: bool) -> Res<Table> {
    let rec = lua.create_table()?;
    rec.set("id", t.id.0)?;
    rec.set("tag", t.name)?;
    rec.set("pid", t.pid)?;
    rec.set("lines", t.lines)?;
    let end = t.ended.unwrap_or(now);
    rec.set(
        "uptime",
        end.saturating_duration_since(t.started).as_secs_f64(),
    )?;
    rec.set("exit", exit_text(t.state))?;
    match t.state {
        State::Running { .. } => {
            rec.set("state", "running")?;
            if let Some(u) = usage(t.pid) {
                rec.set("cpu", u.cpu)?;
                rec.set("rss", u.rss)?;
            }
        }
        State::Zombie(e) => {
            rec.set("state", "exited")?;
            match e {
                Ended::Code(c) => rec.set("code", c)?,
                Ended::Signal(s) => rec.set("signal", s)?,
                Ended::Lost => {}
            }
        }
    }
    if with_caps {
        let caps = lua.create_table()?;
        for (i, c) in t.caps.iter().enumerate() {
            let cap = lua.create_table()?;
            cap.set("name", c.name.as_str())?;
            cap.set("type", c.kind.name())?;
            cap.set("rights", rights_letters(c.rights.0))?;
            caps.raw_set(i + 1, cap)?;
        }
        rec.set("caps", caps)?;
    }
    Ok(rec)
}

/// `core.rows()`: the live view's sample (lua/prompt.lua, `rows`), built
/// here in one string without a Lua table per task, as it is asked for
/// every second.
fn rows(host: &HostCell, _: &Lua, _: MultiValue) -> Res<String> {
    use std::fmt::Write;
    let now = Instant::now();
    host.with(|h| {
        let all = h.sup.tasks();
        let mut out = String::with_capacity(64 * (all.len() + 1));
        let _ = write!(out, "ned\t{}", all.len());
        for t in &all {
            let end = t.ended.unwrap_or(now);
            let up = end.saturating_duration_since(t.started).as_secs_f64();
            let tag: String = t
                .name
                .chars()
                .map(|c| if c == '\t' || c == '\n' { ' ' } else { c })
                .collect();
            let (state, u) = match t.state {
                State::Running { .. } => ("running", usage(t.pid)),
                State::Zombie(_) => ("exited", None),
            };
            let exit = exit_text(t.state);
            let (cpu, rss) = u.map_or((0.0, 0), |u| (u.cpu, u.rss));
            let _ = write!(
                out,
                "\n{}\t{tag}\t{state}\t{up:.1}\t{cpu:.2}\t{rss}\t{}\t{exit}",
                t.pid, t.lines
            );
        }
        out
    })
}

/// How a task ended: `code N`, `signal N`, `lost`; empty while running.
fn exit_text(state: State) -> String {
    match state {
        State::Running { .. } => String::new(),
        State::Zombie(Ended::Code(c)) => format!("code {c}"),
        State::Zombie(Ended::Signal(s)) => format!("signal {s}"),
        State::Zombie(Ended::Lost) => "lost".to_owned(),
    }
}

/// A rights mask as the letters `mode()` takes, in L4Re's order.
pub(crate) fn rights_letters(bits: u32) -> String {
    use ned_core::Rights as R;
    [
        (R::R, 'r'),
        (R::W, 'w'),
        (R::S, 's'),
        (R::D, 'd'),
        (R::N, 'n'),
        (R::C, 'c'),
    ]
    .iter()
    .filter(|(b, _)| bits & b == *b)
    .map(|(_, c)| *c)
    .collect()
}

/// `core.log_tail(id, n)`: the last `n` lines ned keeps of task `id`'s log,
/// oldest first (an empty array for a console task).
fn log_tail(host: &HostCell, lua: &Lua, vals: MultiValue) -> Res<Table> {
    let args = Args::new("logs", vals, 0);
    let id =
        TaskId(u64::try_from(args.integer(1)?).map_err(|_| bad_arg(1, "logs", "invalid task id"))?);
    let n = args.integer(2)?;
    if !(0..=MAX_TAIL).contains(&n) {
        return Err(bad_arg(
            2,
            "logs",
            format!("line count must be 0..{MAX_TAIL}"),
        ));
    }
    let lines = host.with(|h| h.sup.log_tail(id, n as usize))?;
    let out = lua.create_table()?;
    for (i, l) in lines.into_iter().enumerate() {
        out.raw_set(i + 1, lua.create_string(l)?)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // Fields 3..24 after a name with spaces and a `)` in it.
        let mut text = String::from("42 (a b) c)) S");
        for n in 4..=24 {
            let v = match n {
                14 => 250, // utime
                15 => 50,  // stime
                24 => 3,   // rss pages
                _ => 1,
            };
            text.push_str(&format!(" {v}"));
        }
        text.push_str(" 7 8 9\n");
        let mut bytes = text.into_bytes();
        // A command name that is not UTF-8.
        bytes[4] = 0xff;
        let u = parse_stat(&bytes, 100, 4096).unwrap();
        assert_eq!(
            u,
            Usage {
                cpu: 3.0,
                rss: 3 * 4096
            }
        );
        assert_eq!(parse_stat(b"42 (x) S 1 2", 100, 4096), None);
        assert_eq!(parse_stat(b"no parenthesis", 100, 4096), None);
    }

    #[test]
    fn rights_are_letters_in_l4re_order() {
        assert_eq!(rights_letters(ned_core::Rights::SERVER.0), "rwsdc");
        assert_eq!(rights_letters(ned_core::Rights::READ.0), "r");
        assert_eq!(rights_letters(0), "");
    }
}
