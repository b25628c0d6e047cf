//! Natives behind `L4.timer`, `L4.every` and the `Timer` class of
//! lua/L4.lua (docs/l4.md). L4.lua keeps the callbacks and checks the
//! arguments; here a timer is armed in the supervisor's timerfd and its
//! expiry comes back as an event the serve loop dispatches, like an exit.

use std::time::Duration;

use mlua::{Lua, MultiValue, Value};
use ned_core::supervisor::TimerId;

use crate::HostCell;
use crate::fail::{Args, Fail, Res, bad_arg, chain, type_err};

/// Longest delay or period: a year, so every deadline fits the clock.
const MAX_SECS: f64 = 365.0 * 86_400.0;

fn seconds(args: &Args<'_>, n: usize, least: f64) -> Res<Duration> {
    let secs = match args.get(n) {
        Value::Integer(i) => *i as f64,
        Value::Number(x) => *x,
        other => return Err(type_err(n, args.func, "number", other)),
    };
    if !(least..=MAX_SECS).contains(&secs) {
        return Err(bad_arg(
            n,
            args.func,
            format!(
                "milliseconds out of range ({} to {} expected, got {})",
                least * 1000.0,
                MAX_SECS * 1000.0,
                secs * 1000.0
            ),
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `core.timer_add(name, secs)`: the new timer's id; `every` timers repeat
/// every `secs`.
pub fn add(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<i64> {
    let mut vals = vals.into_vec();
    let name = match vals.first() {
        Some(Value::String(s)) if s.to_str()?.as_ref() == "every" => "every",
        _ => "timer",
    };
    if !vals.is_empty() {
        vals.remove(0);
    }
    let args = Args::new(name, MultiValue::from_vec(vals), 0);
    // A period under a millisecond would make the loop spin.
    let periodic = name == "every";
    let after = seconds(&args, 1, if periodic { 0.001 } else { 0.0 })?;
    let period = periodic.then_some(after);
    let id = host
        .with(|h| h.sup.add_timer(after, period))?
        .map_err(|e| Fail::Msg(format!("{name}: {}", chain(&e))))?;
    Ok(id.0 as i64)
}

/// `core.timer_cancel(id)`: whether the timer was still armed.
pub fn cancel(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<bool> {
    let args = Args::new("cancel", vals, 0);
    let id =
        u64::try_from(args.integer(1)?).map_err(|_| bad_arg(1, "cancel", "invalid timer id"))?;
    host.with(|h| h.sup.cancel_timer(TimerId(id)))
}

/// `L4.now()`: milliseconds on the monotonic clock (`CLOCK_MONOTONIC`), for
/// measuring how long something ran; its zero means nothing.
pub fn now(_: &Lua, _: MultiValue) -> Res<f64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Ok(t.tv_sec as f64 * 1000.0 + t.tv_nsec as f64 / 1e6)
}
