//! The limits part of a start table's `sandbox`: `memory`, `pids` and
//! `rlimits` (docs/sandbox.md), read into a [`Limits`].
//!
//! ```lua
//! sandbox = { memory = "64M", pids = 32,
//!             rlimits = { nofile = 128, cpu = 10, as = "256M", core = 0,
//!                         fsize = { "1G", "2G" } } }
//! ```
//!
//! A size is a whole number of bytes or a string of digits with an
//! optional binary suffix (`K`, `M`, `G`, `T`, either case); an rlimit is
//! a value (soft = hard), `"unlimited"`, or a `{soft, hard}` pair. Every
//! other value is a Lua error naming the key and what it got.

use mlua::{Table, Value};
use ned_core::cgroup::{Limits, Resource, Rlimit, UNLIMITED};

use crate::fail::{Res, bad_arg};

/// The keys of `sandbox` read here.
pub const KEYS: [&str; 3] = ["memory", "pids", "rlimits"];

/// The limits in `sandbox` (the start table's field), for `fname`.
pub fn limits(fname: &str, sandbox: &Table) -> Res<Limits> {
    let memory = match sandbox.get::<Value>("memory")? {
        Value::Nil => None,
        v => Some(positive(
            fname,
            "sandbox.memory",
            size(fname, "sandbox.memory", &v)?,
        )?),
    };
    let pids = match sandbox.get::<Value>("pids")? {
        Value::Nil => None,
        v => Some(positive(
            fname,
            "sandbox.pids",
            count(fname, "sandbox.pids", &v)?,
        )?),
    };
    let rlimits = match sandbox.get::<Value>("rlimits")? {
        Value::Nil => Vec::new(),
        Value::Table(t) => rlimits(fname, &t)?,
        other => return Err(got(fname, "sandbox.rlimits must be a table", &other)),
    };
    Ok(Limits {
        memory,
        pids,
        rlimits,
    })
}

/// `rlimits = { name = value, ... }`, in prlimit(1)'s order of names.
fn rlimits(fname: &str, t: &Table) -> Res<Vec<Rlimit>> {
    let mut out = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let name = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => return Err(got(fname, "sandbox.rlimits keys must be names", other)),
        };
        let Some(resource) = Resource::from_name(&name) else {
            let known: Vec<&str> = Resource::names().collect();
            return Err(bad_arg(
                1,
                fname,
                format!(
                    "sandbox.rlimits: unknown resource '{name}' (known: {})",
                    known.join(", ")
                ),
            ));
        };
        let key = format!("sandbox.rlimits.{name}");
        let (soft, hard) = match &v {
            Value::Table(pair) => {
                let len = pair.raw_len();
                if len != 2 || pair.pairs::<Value, Value>().count() != 2 {
                    return Err(bad_arg(
                        1,
                        fname,
                        format!("{key} must be a value or a {{soft, hard}} pair"),
                    ));
                }
                let soft = limit(fname, &key, resource, &pair.raw_get(1)?)?;
                let hard = limit(fname, &key, resource, &pair.raw_get(2)?)?;
                if soft > hard {
                    return Err(bad_arg(
                        1,
                        fname,
                        format!("{key}: the soft limit {soft} is above the hard limit {hard}"),
                    ));
                }
                (soft, hard)
            }
            v => {
                let n = limit(fname, &key, resource, v)?;
                (n, n)
            }
        };
        out.push(Rlimit {
            resource,
            soft,
            hard,
        });
    }
    let order = |r: &Rlimit| Resource::names().position(|n| n == r.resource.name());
    out.sort_by_key(order);
    Ok(out)
}

/// One rlimit value: `"unlimited"`, a size for a resource in bytes, else
/// a count.
fn limit(fname: &str, key: &str, resource: Resource, v: &Value) -> Res<u64> {
    if let Value::String(s) = v
        && s.to_string_lossy() == "unlimited"
    {
        return Ok(UNLIMITED);
    }
    if resource.is_bytes() {
        size(fname, key, v)
    } else {
        count(fname, key, v)
    }
}

/// A count: a whole number, not negative.
fn count(fname: &str, key: &str, v: &Value) -> Res<u64> {
    match whole(v) {
        Some(Ok(n)) => Ok(n),
        Some(Err(n)) => Err(negative(fname, key, &n)),
        None => Err(got(fname, &format!("{key} must be a whole number"), v)),
    }
}

/// A size: a whole number of bytes, or digits with a K/M/G/T suffix.
fn size(fname: &str, key: &str, v: &Value) -> Res<u64> {
    let what = format!("{key} must be a size (bytes, or a string such as \"64M\")");
    match (whole(v), v) {
        (Some(Ok(n)), _) => Ok(n),
        (Some(Err(n)), _) => Err(negative(fname, key, &n)),
        (None, Value::String(s)) => {
            let text = s.to_string_lossy();
            parse_size(&text).ok_or_else(|| bad_arg(1, fname, format!("{what}, got \"{text}\"")))
        }
        (None, other) => Err(got(fname, &what, other)),
    }
}

/// `"64M"` as bytes: digits, then at most one of K, M, G, T (powers of
/// 1024, either case); `None` for anything else or an overflow.
fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()?.to_ascii_uppercase() {
        b'K' => (&s[..s.len() - 1], 10),
        b'M' => (&s[..s.len() - 1], 20),
        b'G' => (&s[..s.len() - 1], 30),
        b'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// A Lua number that is a whole number: `Ok` when not negative, `Err`
/// with its text when negative; `None` for other values and fractions.
fn whole(v: &Value) -> Option<Result<u64, String>> {
    match *v {
        Value::Integer(i) => Some(u64::try_from(i).map_err(|_| i.to_string())),
        Value::Number(n) if n.fract() == 0.0 && n.is_finite() => {
            if n < 0.0 {
                Some(Err(n.to_string()))
            } else if n < u64::MAX as f64 {
                Some(Ok(n as u64))
            } else {
                None
            }
        }
        _ => None,
    }
}

fn positive(fname: &str, key: &str, n: u64) -> Res<u64> {
    if n == 0 {
        return Err(bad_arg(1, fname, format!("{key} must be above 0")));
    }
    Ok(n)
}

fn negative(fname: &str, key: &str, n: &str) -> crate::fail::Fail {
    bad_arg(1, fname, format!("{key} must not be negative, got {n}"))
}

/// `<what>, got <value>`, showing strings and numbers themselves.
fn got(fname: &str, what: &str, v: &Value) -> crate::fail::Fail {
    let shown = match v {
        Value::String(s) => format!("\"{}\"", s.to_string_lossy()),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        other => crate::fail::type_name(other).to_owned(),
    };
    bad_arg(1, fname, format!("{what}, got {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2T"), Some(2 << 40));
        for bad in ["", "M", "12X", "-1", "1.5M", " 1M", "1MB", "99999999999T"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    fn run(lua_table: &str) -> Result<Limits, String> {
        let lua = mlua::Lua::new();
        let t: Table = lua.load(lua_table).eval().unwrap();
        limits("start", &t).map_err(|e| match e {
            crate::fail::Fail::Msg(m) => m,
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn tables_become_limits() {
        let l = run(r#"{ memory = "64M", pids = 32,
                 rlimits = { nofile = 128, as = "256M", cpu = 10.0,
                             fsize = { "1G", "unlimited" }, core = 0 } }"#)
        .unwrap();
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(l.pids, Some(32));
        let r: Vec<(&str, u64, u64)> = l
            .rlimits
            .iter()
            .map(|r| (r.resource.name(), r.soft, r.hard))
            .collect();
        assert_eq!(
            r,
            [
                ("as", 256 << 20, 256 << 20),
                ("core", 0, 0),
                ("cpu", 10, 10),
                ("fsize", 1 << 30, UNLIMITED),
                ("nofile", 128, 128)
            ]
        );
        assert_eq!(run("{}").unwrap(), Limits::default());
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                "{ memory = -5 }",
                "sandbox.memory must not be negative, got -5",
            ),
            (
                r#"{ memory = "12X" }"#,
                r#"sandbox.memory must be a size (bytes, or a string such as "64M"), got "12X""#,
            ),
            ("{ memory = 0 }", "sandbox.memory must be above 0"),
            (
                "{ pids = 1.5 }",
                "sandbox.pids must be a whole number, got 1.5",
            ),
            (
                r#"{ pids = "32" }"#,
                r#"sandbox.pids must be a whole number, got "32""#,
            ),
            ("{ rlimits = 5 }", "sandbox.rlimits must be a table, got 5"),
            (
                "{ rlimits = { nofiles = 1 } }",
                "sandbox.rlimits: unknown resource 'nofiles' (known: as, core, cpu, data, \
                 fsize, memlock, msgqueue, nice, nofile, nproc, rtprio, rttime, sigpending, \
                 stack)",
            ),
            (
                r#"{ rlimits = { nofile = "1K" } }"#,
                r#"sandbox.rlimits.nofile must be a whole number, got "1K""#,
            ),
            (
                "{ rlimits = { nproc = -1 } }",
                "sandbox.rlimits.nproc must not be negative, got -1",
            ),
            (
                "{ rlimits = { nofile = { 10, 5 } } }",
                "sandbox.rlimits.nofile: the soft limit 10 is above the hard limit 5",
            ),
            (
                "{ rlimits = { nofile = { 10 } } }",
                "sandbox.rlimits.nofile must be a value or a {soft, hard} pair",
            ),
            (
                "{ rlimits = { 5 } }",
                "sandbox.rlimits keys must be names, got 1",
            ),
        ];
        for (table, want) in cases {
            assert_eq!(
                run(table).unwrap_err(),
                format!("bad argument #1 to 'start' ({want})"),
                "{table}"
            );
        }
    }
}
