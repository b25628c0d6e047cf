//! `sandbox = ...` in a start table (docs/sandbox.md): the preset
//! `"strict"`, or a table of options that may start with the preset as its
//! first item (`{ "strict", system = true }`), turned into
//! [`ned_core::sandbox::Sandbox`].
//!
//! Unlike the start table's own keys, an unknown option is an error: a
//! misspelt `landlok = true` must not start a task less confined than the
//! script says.

use mlua::{Table, Value};
use ned_core::sandbox::{Sandbox, Seccomp};

use crate::fail::{Res, bad_arg, field_err};

/// The options of this parser; a sandbox table may also hold the cgroup and
/// rlimit keys of [`crate::sandbox_limits::KEYS`].
const OPTIONS: [&str; 12] = [
    "user",
    "mount",
    "pid",
    "net",
    "ipc",
    "uts",
    "no_new_privs",
    "landlock",
    "system",
    "seccomp",
    "uid",
    "gid",
];

/// The one preset.
const STRICT: &str = "strict";

/// `env.sandbox` of a call to `fname`; `None` when absent.
pub fn parse(fname: &str, v: Value) -> Res<Option<Sandbox>> {
    let bad = |msg: String| bad_arg(1, fname, format!("sandbox: {msg}"));
    match v {
        Value::Nil => Ok(None),
        Value::String(s) => preset(&s.to_string_lossy()).map(Some).map_err(bad),
        Value::Table(t) => table(fname, &t).map(Some),
        other => Err(field_err(
            1,
            fname,
            "sandbox must be \"strict\" or a table",
            &other,
        )),
    }
}

fn preset(name: &str) -> Result<Sandbox, String> {
    match name {
        STRICT => Ok(Sandbox::strict()),
        other => Err(format!(
            "unknown preset '{other}' (the preset is \"{STRICT}\")"
        )),
    }
}

fn table(fname: &str, t: &Table) -> Res<Sandbox> {
    let bad = |msg: String| bad_arg(1, fname, format!("sandbox: {msg}"));
    let mut sb = match t.raw_get::<Value>(1)? {
        Value::Nil => Sandbox::default(),
        Value::String(s) => preset(&s.to_string_lossy()).map_err(bad)?,
        other => {
            return Err(bad(format!(
                "the first item must be the preset \"{STRICT}\", got {}",
                crate::fail::type_name(&other)
            )));
        }
    };
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match &k {
            Value::Integer(1) => continue,
            Value::String(s) => s.to_string_lossy(),
            Value::Integer(i) => return Err(bad(format!("unexpected item [{i}]"))),
            other => {
                return Err(bad(format!(
                    "option names must be strings, got {}",
                    crate::fail::type_name(other)
                )));
            }
        };
        let flag = |v: &Value| match v {
            Value::Boolean(b) => Ok(*b),
            other => Err(bad(format!(
                "{key} must be a boolean, got {}",
                crate::fail::type_name(other)
            ))),
        };
        match key.as_str() {
            "user" => sb.user = flag(&v)?,
            "mount" => sb.mount = flag(&v)?,
            "pid" => sb.pid = flag(&v)?,
            "net" => sb.net = flag(&v)?,
            "ipc" => sb.ipc = flag(&v)?,
            "uts" => sb.uts = flag(&v)?,
            "no_new_privs" => sb.no_new_privs = flag(&v)?,
            "landlock" => sb.landlock = flag(&v)?,
            "system" => sb.system = flag(&v)?,
            "seccomp" => {
                sb.seccomp = match &v {
                    Value::Boolean(false) => None,
                    Value::String(s) => {
                        let name = s.to_string_lossy();
                        Some(Seccomp::from_name(&name).ok_or_else(|| {
                            bad(format!(
                                "unknown seccomp preset '{name}' (presets: {})",
                                Seccomp::NAMES
                            ))
                        })?)
                    }
                    other => {
                        return Err(bad(format!(
                            "seccomp must be a preset name or false, got {}",
                            crate::fail::type_name(other)
                        )));
                    }
                }
            }
            "uid" => sb.uid = Some(id(&key, &v).map_err(bad)?),
            "gid" => sb.gid = Some(id(&key, &v).map_err(bad)?),
            // Parsed by crate::sandbox_limits into the task's cgroup leaf
            // and rlimits.
            k if crate::sandbox_limits::KEYS.contains(&k) => {}
            other => {
                let known: Vec<&str> = OPTIONS
                    .iter()
                    .chain(&crate::sandbox_limits::KEYS)
                    .copied()
                    .collect();
                let hint = crate::loader::nearest(other, &known)
                    .map(|k| format!(" (did you mean '{k}'?)"))
                    .unwrap_or_default();
                return Err(bad(format!("unknown option '{other}'{hint}")));
            }
        }
    }
    Ok(sb)
}

/// A uid or gid: a whole number below 2^32 - 1 (which means "no id").
fn id(key: &str, v: &Value) -> Result<u32, String> {
    let n = match v {
        Value::Integer(i) => Some(*i),
        Value::Number(x) if x.fract() == 0.0 => Some(*x as i64),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n != u32::MAX)
        .ok_or_else(|| format!("{key} must be a number from 0 to 4294967294"))
}
