//! The log table of a start table beyond `{ tag, color }`: where a task's
//! lines go and how (docs/logs.md):
//!
//! ```lua
//! log = { "web", "g", file = "web.log", max_size = "10M", keep = 5,
//!         console = false, time = "utc" }
//! ```
//!
//! `file` is a path, relative to ned's working directory when it is not
//! absolute; its directory must exist and the path must not name a
//! directory. `max_size` (bytes, or a number with K, M or G: powers of
//! 1024) turns on rotation, keeping `keep` older files (default 5);
//! `console = false` (only with a file) keeps the lines off ned's console;
//! `time` is `"utc"`, `"mono"`, `"off"` or a boolean (true: utc). Every
//! malformed value is an error of `start`, before anything is started.

use std::path::PathBuf;

use mlua::{Table, Value};
use ned_core::log::{Color, StreamSpec};
use ned_core::logfile::FileSpec;
use ned_core::logfmt::Time;

use crate::fail::type_name;

/// Rotated files kept when `max_size` is given without `keep`.
const DEFAULT_KEEP: u32 = 5;
/// The most rotated files a task may keep.
const MAX_KEEP: i64 = 1000;

/// The keys a log table may have besides `[1]` (tag) and `[2]` (colour).
const KEYS: [&str; 5] = ["file", "max_size", "keep", "console", "time"];

/// Whether `t` has more than a tag and a colour (a misspelt option too,
/// so that it is reported).
pub fn is_extended(t: &Table) -> mlua::Result<bool> {
    let mut more = false;
    t.for_each(|k: Value, _: Value| {
        more |= !matches!(k, Value::Integer(1 | 2));
        Ok(())
    })?;
    Ok(more)
}

/// The stream of log table `t` with its already checked tag and colour;
/// `Err` is the message of a bad value.
pub fn stream_spec(
    t: &Table,
    tag: String,
    color: Color,
) -> mlua::Result<Result<StreamSpec, String>> {
    let mut bad = None;
    t.for_each(|k: Value, _: Value| {
        let known = match &k {
            Value::Integer(1 | 2) => true,
            Value::String(s) => KEYS.contains(&s.to_string_lossy().as_str()),
            _ => false,
        };
        if !known && bad.is_none() {
            bad = Some(format!("unknown log option '{}'", key_text(&k)));
        }
        Ok(())
    })?;
    if let Some(b) = bad {
        return Ok(Err(b));
    }
    parse(t, tag, color)
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.to_string_lossy(),
        Value::Integer(i) => i.to_string(),
        other => type_name(other).to_owned(),
    }
}

#[allow(clippy::type_complexity)]
fn parse(t: &Table, tag: String, color: Color) -> mlua::Result<Result<StreamSpec, String>> {
    let file = match t.get::<Value>("file")? {
        Value::Nil => None,
        Value::String(s) => Some(PathBuf::from(s.to_string_lossy())),
        other => {
            return Ok(Err(format!(
                "log file must be a string, got {}",
                type_name(&other)
            )));
        }
    };
    let max_size = match size(&t.get::<Value>("max_size")?) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let keep = match t.get::<Value>("keep")? {
        Value::Nil => None,
        Value::Integer(k) if (0..=MAX_KEEP).contains(&k) => Some(k as u32),
        Value::Integer(k) => {
            return Ok(Err(format!(
                "log keep must be 0..{MAX_KEEP} files, got {k}"
            )));
        }
        other => {
            return Ok(Err(format!(
                "log keep must be an integer, got {}",
                type_name(&other)
            )));
        }
    };
    let console = match t.get::<Value>("console")? {
        Value::Nil => true,
        Value::Boolean(b) => b,
        other => {
            return Ok(Err(format!(
                "log console must be a boolean, got {}",
                type_name(&other)
            )));
        }
    };
    let time = match t.get::<Value>("time")? {
        Value::Nil => None,
        Value::Boolean(true) => Some(Time::Utc),
        Value::Boolean(false) => Some(Time::Off),
        Value::String(s) => match Time::parse(&s.to_string_lossy()) {
            Some(t) => Some(t),
            None => {
                return Ok(Err(format!(
                    "log time must be \"utc\", \"mono\" or \"off\", got \"{}\"",
                    s.to_string_lossy()
                )));
            }
        },
        other => {
            return Ok(Err(format!(
                "log time must be a string or boolean, got {}",
                type_name(&other)
            )));
        }
    };
    let file = match file {
        Some(path) => {
            if let Err(e) = check_path(&path) {
                return Ok(Err(format!("log file '{}': {e}", path.display())));
            }
            Some(FileSpec {
                path,
                max_size: max_size.unwrap_or(0),
                keep: keep.unwrap_or(DEFAULT_KEEP),
            })
        }
        None if max_size.is_some() || keep.is_some() => {
            return Ok(Err("log max_size and keep need a log file".to_owned()));
        }
        None if !console => {
            return Ok(Err("log console = false needs a log file".to_owned()));
        }
        None => None,
    };
    Ok(Ok(StreamSpec {
        tag,
        color,
        file,
        console,
        time,
    }))
}

/// A log file's directory must exist, and the path must not be a directory.
fn check_path(path: &std::path::Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("the path is empty".into());
    }
    if path.is_dir() {
        return Err("is a directory".into());
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!("'{}' is not a directory", dir.display())),
        Err(e) => Err(format!("directory '{}': {e}", dir.display())),
    }
}

/// `max_size`: bytes as an integer, or a string of digits with an optional
/// K, M or G (powers of 1024); more than 0.
fn size(v: &Value) -> Result<Option<u64>, String> {
    let bytes = match v {
        Value::Nil => return Ok(None),
        Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| format!("log max_size must not be negative, got {i}"))?
        }
        Value::String(s) => {
            let s = s.to_string_lossy();
            let t = s.trim();
            let (digits, shift) = match t.as_bytes().last().map(u8::to_ascii_uppercase) {
                Some(b'K') => (&t[..t.len() - 1], 10),
                Some(b'M') => (&t[..t.len() - 1], 20),
                Some(b'G') => (&t[..t.len() - 1], 30),
                _ => (t, 0),
            };
            if digits.starts_with('-') {
                return Err(format!("log max_size must not be negative, got \"{s}\""));
            }
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "log max_size \"{s}\" is not a size (bytes, or a number with K, M or G: 10M)"
                ));
            }
            digits
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(1 << shift))
                .ok_or_else(|| format!("log max_size \"{s}\" is too large"))?
        }
        other => {
            return Err(format!(
                "log max_size must be a size string or integer, got {}",
                type_name(other)
            ));
        }
    };
    if bytes == 0 {
        return Err("log max_size must be more than 0".into());
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::size;
    use mlua::Value;

    #[test]
    fn sizes() {
        let lua = mlua::Lua::new();
        let s = |t: &str| size(&Value::String(lua.create_string(t).unwrap()));
        assert_eq!(s("10M"), Ok(Some(10 << 20)));
        assert_eq!(s("4k"), Ok(Some(4096)));
        assert_eq!(s("123"), Ok(Some(123)));
        assert_eq!(size(&Value::Integer(5)), Ok(Some(5)));
        assert_eq!(size(&Value::Nil), Ok(None));
        for bad in ["-1M", "10X", "M", "", "1.5M", "0", "99999999999G"] {
            assert!(s(bad).is_err(), "{bad}");
        }
        assert!(size(&Value::Integer(-1)).unwrap_err().contains("negative"));
        assert!(s("10T").unwrap_err().contains("not a size"));
    }
}
