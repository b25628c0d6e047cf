//! `loader:start(...)` and `loader:startv(...)`: turn a start table into a
//! [`StartSpec`] — caps, program, argv, environment, log — and start it.
//!
//! Every malformed part of the table is a Lua error naming the function; no
//! task is started and nothing is left behind when one is found. A key ned
//! does not know is ignored, as upstream does, but warned about once per call
//! site: it is most likely a typo (`logs = ...`) that would otherwise change
//! what the task gets without a word.

use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::path::{Path, PathBuf};

use mlua::{Function, Lua, MultiValue, Table, Value};
use ned_core::cap::Object;
use ned_core::cgroup::Limits;
use ned_core::supervisor::{LogTarget, StartSpec};
use ned_core::{Cap, Kind, Rights};
use rustix::fs::{FileType, OFlags};

use crate::HostCell;
use crate::cap::{cap_of, log_spec, push};
use crate::fail::{Args, Fail, Res, bad_arg, chain, field_err, script_frame, type_err};

/// Deepest nesting of caps tables (and of functions returning functions).
const MAX_DEPTH: usize = 32;

/// The start-table keys: those ned reads (spec §9) and those upstream's
/// Loader documents that have no Linux meaning (`ldr_flags`, the
/// factories), which are accepted and ignored. Most used first: a typo
/// close to two keys is pointed at the first.
const START_KEYS: [&str; 14] = [
    "caps",
    "log",
    "sandbox",
    "scheduler",
    "l4re_dbg",
    "log_tag",
    "log_color",
    "ldr_flags",
    "factory",
    "mem",
    "log_fab",
    "rm_fab",
    "notify",
    "watchdog",
];
/// Largest edit distance at which an unknown key is taken for a typo.
const TYPO_DISTANCE: usize = 2;
/// Call sites remembered for the once-per-site warning rule; a script that
/// makes up keys without end stops being warned about rather than making
/// ned grow.
const MAX_WARNED: usize = 1024;

const DBG_BOOT: i64 = 0x4;
const DBG_CMD_LINE: i64 = 0x40;
const DBG_LOADER: i64 = 0x80;

/// `core.start(fname, loader, env, ...)`; returns the task id and pid.
pub fn start(host: &HostCell, lua: &Lua, vals: MultiValue) -> Res<(i64, i64)> {
    let mut vals = vals.into_vec();
    let fname = match vals.first() {
        Some(Value::String(s)) if s.to_str()?.as_ref() == "startv" => "startv",
        _ => "start",
    };
    if !vals.is_empty() {
        vals.remove(0);
    }
    let args = Args::new(fname, MultiValue::from_vec(vals), 1);
    let loader = match args.get(0) {
        Value::Table(t) => t.clone(),
        other => return Err(type_err(0, fname, "loader", other)),
    };
    let env = args.table(1)?;
    let (prog, argv, posix) = command(&args)?;
    warn_unknown_keys(lua, fname, &env)?;

    // One value, read once: the policy, then (from a table) its limits.
    let sandbox_value: Value = env.get("sandbox")?;
    let sandbox = crate::sandbox::parse(fname, sandbox_value.clone())?;
    let limits = match &sandbox_value {
        Value::Table(t) => crate::sandbox_limits::limits(fname, t)?,
        _ => Limits::default(),
    };
    let mut caps = collect_caps(lua, &args, &env, &loader)?;
    let (path, dir) = resolve_program(&prog, &caps)?;
    if let Some(sb) = &sandbox
        && prog.starts_with('/')
        && !sb.allows_host_path(&path, &caps)
    {
        return Err(Fail::Msg(format!(
            "could not create process: {prog}: a host path is refused in this sandbox \
             unless a granted directory or file cap (or system = true) covers it"
        )));
    }
    let log = log_target(&args, &env, &prog)?;
    let dbg = match env.get::<Value>("l4re_dbg")? {
        Value::Nil => 0,
        Value::Integer(i) => i,
        other => {
            return Err(field_err(1, fname, "l4re_dbg must be a number", &other));
        }
    };
    let cpus = match env.get::<Value>("scheduler")? {
        Value::Nil => None,
        v => match cap_of(&v).as_ref().map(|c| &*c.object) {
            Some(Object::Scheduler { cpus, .. }) => cpus.clone(),
            _ => {
                return Err(bad_arg(
                    1,
                    fname,
                    "scheduler must be a scheduler capability",
                ));
            }
        },
    };
    let (notify, watchdog) = readiness(fname, &env)?;
    if dbg & DBG_CMD_LINE != 0 {
        ned_core::diag!("ned: command line: {}", argv.join(" "));
    }
    if dbg & (DBG_LOADER | DBG_BOOT) != 0 {
        let names: Vec<String> = caps.iter().map(|(n, c)| format!("{n}={c}")).collect();
        ned_core::diag!(
            "ned: starting {} with caps [{}]",
            path.display(),
            names.join(", ")
        );
    }
    let argv = argv
        .into_iter()
        .map(|a| CString::new(a).map_err(|_| bad_arg(2, fname, "argument contains a NUL byte")))
        .collect::<Res<Vec<_>>>()?;
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| bad_arg(2, fname, "program path contains a NUL byte"))?;
    let spec = StartSpec {
        path: c_path,
        argv,
        env: posix,
        caps: std::mem::take(&mut caps),
        log,
        cpus,
        nice: None,
        notify,
        watchdog,
        sandbox,
        limits,
    };
    // Landlock without `system` makes the exec of a dynamically linked
    // program fail with a bare EACCES (its loader is not granted): say so.
    let landlocked = matches!(&spec.sandbox, Some(s) if s.landlock && !s.system);
    let (id, pid) = host.with(|h| h.sup.start(spec))?.map_err(|e| {
        let mut why = not_found(&prog, &path, dir.as_deref(), &e)
            .unwrap_or_else(|| format!("{prog}: {}", chain(&e)));
        if landlocked && exec_errno(&e) == Some(libc::EACCES) {
            why.push_str(
                " (this sandbox grants only the task's caps: a dynamically linked \
                 program needs system = true)",
            );
        }
        Fail::Msg(format!("could not create process: {why}"))
    })?;
    Ok((id.0 as i64, pid as i64))
}

/// Every malformed `notify`/`watchdog` value are Lua errors here,
/// before anything starts (docs/readiness.md): `notify` is a boolean,
/// `watchdog` a number of milliseconds from 1 to one day.
fn readiness(fname: &str, env: &Table) -> Res<(bool, Option<std::time::Duration>)> {
    let notify = match env.get::<Value>("notify")? {
        Value::Nil => false,
        Value::Boolean(b) => b,
        other => return Err(field_err(1, fname, "notify must be a boolean", &other)),
    };
    let watchdog = match env.get::<Value>("watchdog")? {
        Value::Nil => None,
        Value::Integer(i) => Some(i as f64),
        Value::Number(n) => Some(n),
        other => {
            return Err(field_err(
                1,
                fname,
                "watchdog must be a number of milliseconds",
                &other,
            ));
        }
    };
    let watchdog = match watchdog {
        None => None,
        Some(ms) if (1.0..=MAX_WATCHDOG_MS).contains(&ms) => {
            Some(std::time::Duration::from_secs_f64(ms / 1000.0))
        }
        Some(ms) => {
            return Err(bad_arg(
                1,
                fname,
                format!("watchdog must be between 1 and {MAX_WATCHDOG_MS} ms, got {ms}"),
            ));
        }
    };
    Ok((notify, watchdog))
}

/// Longest watchdog interval: a day.
const MAX_WATCHDOG_MS: f64 = 86_400_000.0;

/// Warns on stderr about each key of the start table that ned does not
/// know, naming the script's line and the nearest known key; a call site
/// (chunk, line, key) warns once. A key that looks like a misspelt
/// `sandbox` is an error instead: it would start the task unconfined.
fn warn_unknown_keys(lua: &Lua, fname: &str, env: &Table) -> Res<()> {
    // Each unknown key: how the warning shows it, and its name if a string.
    let mut unknown: Vec<(String, Option<String>)> = Vec::new();
    for pair in env.pairs::<Value, Value>() {
        let (k, _) = pair?;
        unknown.push(match &k {
            Value::String(s) => {
                let s = s.to_string_lossy();
                if START_KEYS.contains(&s.as_str()) {
                    continue;
                }
                (format!("'{s}'"), Some(s))
            }
            Value::Integer(i) => (format!("[{i}]"), None),
            other => (format!("of type {}", crate::fail::type_name(other)), None),
        });
    }
    if unknown.is_empty() {
        return Ok(());
    }
    if let Some((key, _)) = unknown
        .iter()
        .find(|(_, n)| n.as_deref().and_then(|n| nearest(n, &START_KEYS)) == Some("sandbox"))
    {
        return Err(bad_arg(
            1,
            fname,
            format!(
                "unknown key {key} in start table (did you mean 'sandbox'? \
                 the task would start unconfined)"
            ),
        ));
    }
    let (src, line) =
        script_frame(lua).map_or((String::new(), 0), |f| (f.src, f.line.unwrap_or(0)));
    if lua.app_data_ref::<Warned>().is_none() {
        lua.set_app_data(Warned::default());
    }
    let Some(mut warned) = lua.app_data_mut::<Warned>() else {
        return Ok(());
    };
    unknown.sort();
    for (key, name) in unknown {
        if warned.0.len() >= MAX_WARNED || !warned.0.insert((src.clone(), line, key.clone())) {
            continue;
        }
        let at = if src.is_empty() {
            String::new()
        } else {
            format!("{src}:{line}: ")
        };
        let hint = name
            .and_then(|name| nearest(&name, &START_KEYS))
            .map(|known| format!(" (did you mean '{known}'?)"))
            .unwrap_or_default();
        ned_core::diag!("ned: warning: {at}unknown key {key} in start table{hint}");
    }
    Ok(())
}

/// The key of `known` closest to the unknown `name`, if it is close
/// enough to be taken for a typo of it; the first of equally close ones.
pub(crate) fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, _)| *d <= TYPO_DISTANCE)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The (chunk, line, key) sites already warned about by [`warn_unknown_keys`].
#[derive(Default)]
struct Warned(HashSet<(String, usize, String)>);

/// Levenshtein distance between two keys (bytes; keys are ASCII words).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != cb)).min(up + 1).min(row[j] + 1);
            diag = up;
        }
    }
    row[b.len()]
}

/// The story of an exec that failed with ENOENT, which the kernel reports
/// alike for a missing program, a missing `#!` interpreter and a missing ELF
/// loader: look at the file to tell which, and name the directory the
/// program was looked up in. None for other failures.
fn not_found(
    prog: &str,
    path: &Path,
    dir: Option<&Path>,
    e: &ned_core::supervisor::SupervisorError,
) -> Option<String> {
    let ned_core::supervisor::SupervisorError::Spawn(se) = e else {
        return None;
    };
    if se.os_error()?.raw_os_error() != Some(libc::ENOENT) {
        return None;
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let shown = abs.display();
    if !path.exists() {
        return Some(match dir {
            Some(d) => {
                let rel = path.strip_prefix(d).unwrap_or(path).display();
                let d = std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf());
                format!("{prog}: no file '{rel}' in the directory '{}'", d.display())
            }
            None => format!("{prog}: '{shown}' does not exist"),
        });
    }
    if let Some(interp) = interpreter(path)
        && !Path::new(&interp).exists()
    {
        return Some(format!(
            "{prog}: interpreter '{interp}' named on the first line of '{shown}' not found"
        ));
    }
    Some(format!(
        "{prog}: '{shown}' exists, but the interpreter or program loader it needs was not found"
    ))
}

/// The errno of a failed `execve`, if that is what `e` is.
fn exec_errno(e: &ned_core::supervisor::SupervisorError) -> Option<i32> {
    match e {
        ned_core::supervisor::SupervisorError::Spawn(se @ ned_spawn::SpawnError::Exec { .. }) => {
            se.os_error()?.raw_os_error()
        }
        _ => None,
    }
}

/// The interpreter a `#!` line names, if the file starts with one.
fn interpreter(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let first = String::from_utf8_lossy(line)
        .split_whitespace()
        .next()?
        .to_owned();
    Some(first)
}

/// Program, argv (argv[0] as written) and POSIX environment of the call.
fn command(args: &Args<'_>) -> Res<(String, Vec<String>, Vec<CString>)> {
    let f = args.func;
    let mut rest: Vec<(usize, &Value)> = args
        .rest(3)
        .iter()
        .enumerate()
        .map(|(i, v)| (i + 3, v))
        .collect();
    let posix = match rest.last() {
        Some((_, Value::Table(t))) => {
            let t = t.clone();
            rest.pop();
            posix_env(f, &t, 2 + rest.len() + 1)?
        }
        _ => Vec::new(),
    };
    let argv = if f == "start" {
        if let Some((n, v)) = rest.iter().find(|(_, v)| !v.is_nil()) {
            return Err(type_err(*n, f, "table", v));
        }
        let line = args.string(2)?;
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    } else {
        let mut argv = vec![args.string(2)?];
        for (n, v) in rest {
            match v {
                Value::Nil => {}
                Value::String(_) | Value::Integer(_) | Value::Number(_) => {
                    argv.push(args.string(n)?)
                }
                other => return Err(type_err(n, f, "string", other)),
            }
        }
        argv
    };
    let prog = argv
        .first()
        .cloned()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad_arg(2, f, "empty command"))?;
    Ok((prog, argv, posix))
}

/// `{K = V}` as `K=V` entries, sorted; keys must be strings.
fn posix_env(f: &str, t: &Table, n: usize) -> Res<Vec<CString>> {
    let mut env = BTreeMap::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            return Err(field_err(n, f, "environment keys must be strings", &k));
        };
        let key = k.to_str()?.to_owned();
        let value = match v {
            Value::String(s) => s.to_str()?.to_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Number(x) => x.to_string(),
            other => {
                let what = format!("environment value of '{key}' must be a string");
                return Err(field_err(n, f, &what, &other));
            }
        };
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return Err(bad_arg(n, f, format!("invalid environment entry '{key}'")));
        }
        env.insert(key, value);
    }
    env.into_iter()
        .map(|(k, v)| {
            CString::new(format!("{k}={v}")).map_err(|_| bad_arg(n, f, "NUL in environment"))
        })
        .collect()
}

fn check_name(name: &str) -> Res<()> {
    ned_core::cap::check_name(name).map_err(|e| Fail::Msg(e.to_string()))
}

/// The caps of the start table, plus the loader's defaults where missing.
/// Table values become namespaces and are written back into the caller's
/// table, as upstream does.
fn collect_caps(
    lua: &Lua,
    args: &Args<'_>,
    env: &Table,
    loader: &Table,
) -> Res<Vec<(String, Cap)>> {
    let f = args.func;
    let caps_tbl = match env.get::<Value>("caps")? {
        Value::Nil => None,
        Value::Table(t) => Some(t),
        other => {
            return Err(field_err(1, f, "caps must be a table", &other));
        }
    };
    let mut out: BTreeMap<String, Cap> = BTreeMap::new();
    if let Some(t) = &caps_tbl {
        let mut rewrites = Vec::new();
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let Value::String(k) = k else {
                return Err(field_err(1, f, "capability names must be strings", &k));
            };
            let name = k.to_str()?.to_owned();
            check_name(&name)?;
            if let Some(cap) = resolve_value(lua, f, &name, v.clone(), t, &mut Vec::new(), 0)? {
                if matches!(v, Value::Table(_)) {
                    rewrites.push((name.clone(), cap.clone()));
                }
                out.insert(name, cap);
            }
        }
        for (name, cap) in rewrites {
            t.set(name, push(lua, cap)?)?;
        }
    }
    let defaults = match loader.get::<Value>("default_caps")? {
        Value::Nil => None,
        Value::Table(t) => Some(t),
        other => {
            return Err(Fail::Msg(format!(
                "calling '{f}' on bad self (default_caps must be a table, got {})",
                crate::fail::type_name(&other)
            )));
        }
    };
    if let Some(defaults) = defaults {
        let empty = lua.create_table()?;
        let holder = caps_tbl.as_ref().unwrap_or(&empty);
        for pair in defaults.pairs::<String, Value>() {
            let (name, v) = pair?;
            let present = holder.get::<Value>(name.as_str())?;
            if out.contains_key(&name) || !present.is_nil() {
                continue;
            }
            check_name(&name)?;
            if let Some(cap) = resolve_value(lua, f, &name, v, holder, &mut Vec::new(), 0)? {
                out.insert(name, cap);
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// One caps-table value: a cap, a table (a namespace), a function (called
/// with the caps table), or a value upstream skips silently.
fn resolve_value(
    lua: &Lua,
    f: &str,
    name: &str,
    v: Value,
    caps: &Table,
    stack: &mut Vec<*const std::ffi::c_void>,
    depth: usize,
) -> Res<Option<Cap>> {
    if depth > MAX_DEPTH {
        return Err(bad_arg(
            1,
            f,
            format!("capability '{name}' is nested too deeply"),
        ));
    }
    match v {
        Value::Nil
        | Value::Boolean(_)
        | Value::Integer(_)
        | Value::Number(_)
        | Value::String(_) => Ok(None),
        Value::UserData(_) => cap_of(&v)
            .map(Some)
            .ok_or_else(|| bad_arg(1, f, format!("capability '{name}' is not a capability"))),
        Value::Function(func) => {
            let r: Value = call(&func, caps.clone())?;
            resolve_value(lua, f, name, r, caps, stack, depth + 1)
        }
        // A task object (or another object of L4.lua) is no namespace: its
        // fields would silently become an empty one. ned has no task cap:
        // a pidfd cannot be made unable to signal (docs/rights.md).
        Value::Table(t) if t.metatable().is_some() => Err(bad_arg(
            1,
            f,
            format!(
                "capability '{name}' is an object with a metatable (a task, a cpu set...), \
                 not a capability or a plain table: tasks cannot be passed to tasks"
            ),
        )),
        Value::Table(t) => table_namespace(lua, f, name, &t, stack, depth).map(Some),
        other => Err(field_err(
            1,
            f,
            &format!("capability '{name}' is invalid"),
            &other,
        )),
    }
}

fn call(func: &Function, arg: Table) -> Res<Value> {
    func.call::<Value>(arg)
        .map_err(|e| Fail::Msg(crate::fail::lua_message(&e)))
}

/// A plain table as a namespace holding its entries; cycles are refused.
fn table_namespace(
    lua: &Lua,
    f: &str,
    name: &str,
    t: &Table,
    stack: &mut Vec<*const std::ffi::c_void>,
    depth: usize,
) -> Res<Cap> {
    let ptr = t.to_pointer();
    if stack.contains(&ptr) {
        return Err(bad_arg(
            1,
            f,
            format!("capability '{name}' contains a cycle"),
        ));
    }
    stack.push(ptr);
    let ns = Object::namespace();
    if let Object::Namespace(map) = &ns {
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair?;
            let Value::String(k) = k else {
                return Err(bad_arg(
                    1,
                    f,
                    format!("names in namespace '{name}' must be strings"),
                ));
            };
            let entry = k.to_str()?.to_owned();
            if let Some(cap) = resolve_value(lua, f, &entry, v, t, stack, depth + 1)? {
                map.lock()
                    .map_err(|_| Fail::Msg("namespace lock poisoned".into()))?
                    .insert(entry, cap);
            }
        }
    }
    stack.pop();
    Ok(Cap::new(ns, Rights::READ))
}

/// Resolves the program in the task's own caps (spec §9): its host path,
/// and the directory cap's path when it was looked up in one. A name
/// inside a directory cap is looked up beneath it (no `..`, no symlink out)
/// and the path just checked is what gets executed; docs/linux-mapping.md
/// says what can still change between the check and `execve`.
fn resolve_program(prog: &str, caps: &[(String, Cap)]) -> Res<(PathBuf, Option<PathBuf>)> {
    let fail = |why: &str| Fail::Msg(format!("could not create process: {prog}: {why}"));
    if prog.starts_with('/') {
        return Ok((PathBuf::from(prog), None));
    }
    let (first, rest) = match prog.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (prog, None),
    };
    let Some((_, cap)) = caps.iter().find(|(n, _)| n == first) else {
        return Err(fail("no such capability in the task's caps"));
    };
    let mut cap = cap.clone();
    let mut name = first;
    let mut rest = rest;
    // Walk namespaces held in ned.
    while let (Object::Namespace(map), Some(r)) = (&*cap.object, rest) {
        let (head, tail) = match r.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (r, None),
        };
        let next = map
            .lock()
            .map_err(|_| fail("namespace lock poisoned"))?
            .get(head)
            .cloned();
        cap = next.ok_or_else(|| fail("not found"))?;
        name = head;
        rest = tail;
    }
    match (cap.kind(), rest) {
        (Kind::File, None) => cap
            .host_path()
            .map(|p| (p.to_path_buf(), None))
            .ok_or_else(|| fail("capability is not a file or directory")),
        (Kind::Directory, Some(r)) => {
            let what = format!("{name} directory");
            let dir = cap
                .beneath(&what)
                .ok_or_else(|| fail("capability is not a directory"))?;
            let fd = dir.open(r, OFlags::PATH).map_err(|e| fail(&chain(&e)))?;
            let stat = rustix::fs::fstat(&fd).map_err(|e| fail(&e.to_string()))?;
            if FileType::from_raw_mode(stat.st_mode).is_dir() {
                return Err(fail("is a directory"));
            }
            Ok((dir.path().join(r), Some(dir.path().to_path_buf())))
        }
        (Kind::Directory, None) => Err(fail("is a directory")),
        (Kind::File, Some(_)) => Err(fail("not found")),
        _ => Err(fail("capability is not a file or directory")),
    }
}

/// `env.log`: a `{tag, color}` table, a log cap, a function returning one of
/// those, or nothing (tag = program basename, white).
fn log_target(args: &Args<'_>, env: &Table, prog: &str) -> Res<LogTarget> {
    let f = args.func;
    let default_tag = prog.rsplit('/').next().unwrap_or(prog).to_owned();
    let mut v: Value = env.get("log")?;
    if let Value::Function(func) = &v {
        v = call(func, env.clone())?;
    }
    let (tag, color): (Value, Value) = match &v {
        Value::Nil => (env.get("log_tag")?, env.get("log_color")?),
        Value::Table(t) => (t.get(1)?, t.get(2)?),
        Value::UserData(_) => match cap_of(&v).as_ref().map(|c| &*c.object) {
            Some(Object::Log(None)) => return Ok(LogTarget::Console),
            Some(Object::Log(Some((tag, color)))) => {
                return Ok(LogTarget::Tagged(tag.clone(), *color));
            }
            _ => return Err(bad_arg(1, f, "log must be a log capability")),
        },
        other => {
            return Err(field_err(
                1,
                f,
                "log must be a table or log capability",
                other,
            ));
        }
    };
    let (tag, color) = log_spec(&tag, &color, &default_tag).map_err(|m| bad_arg(1, f, m))?;
    if let Value::Table(t) = &v
        && crate::logspec::is_extended(t)?
    {
        let spec = crate::logspec::stream_spec(t, tag, color)?.map_err(|m| bad_arg(1, f, m))?;
        return Ok(LogTarget::Stream(spec));
    }
    Ok(LogTarget::Tagged(tag, color))
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("logs", "log"), 1);
        assert_eq!(edit_distance("cap", "caps"), 1);
        assert_eq!(edit_distance("lgo", "log"), 2);
        assert_eq!(edit_distance("", "mem"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("caps", "caps"), 0);
    }
}
