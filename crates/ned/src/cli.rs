//! ned's command line with upstream's rules (spec §2): `--exit` or
//! `--wait-and-exit` only as the very first argument, options up to the first
//! non-option argument (the script), and everything after the script belongs
//! to the script — even words that look like options.
//!
//! Option values are checked here, so a bad one is a usage error (exit 2
//! with the usage line) rather than a failure deep inside the script: `--rom`
//! and `--lua-root` must name directories, `--lua-memory` a size.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::Parser;
use lua_l4::Mode;
use ned_core::cap::Object;
use ned_core::log::{Format, LogOptions};
use ned_core::logfmt::Time;
use ned_core::{Cap, Rights};

/// Run a Lua boot script that starts tasks with exactly the capabilities it grants.
#[derive(Parser, Debug)]
#[command(
    name = "ned",
    version,
    override_usage = "ned [--exit|--wait-and-exit] [OPTIONS] [-e STATEMENT]... <SCRIPT> [SCRIPT ARGS]...",
    after_help = "--exit / --wait-and-exit are accepted only as the first argument.\n\
                  Everything after SCRIPT is passed to the script as `arg` and `...`."
)]
struct Flags {
    /// Run STATEMENT in the main Lua state before the script (repeatable).
    #[arg(short = 'e', long = "execute", value_name = "STATEMENT")]
    execute: Vec<String>,
    /// Directory the `rom` capability names (default: the script's directory).
    #[arg(long, value_name = "DIR", value_parser = directory())]
    rom: Option<PathBuf>,
    /// Give ned a named cap in L4.Env: a directory, a file or a Unix socket
    /// (repeatable; RIGHTS letters of rwsdnc, default rws).
    #[arg(long = "cap", value_name = "NAME=PATH[:RIGHTS]")]
    cap: Vec<String>,
    /// Root of Lunatik runtime scripts (default: the script's directory).
    #[arg(long = "lua-root", value_name = "DIR", value_parser = directory())]
    lua_root: Option<PathBuf>,
    /// Memory limit of the main Lua state: bytes or with a K, M or G suffix
    /// (default: 1G, or half the address-space limit when that is lower).
    #[arg(long = "lua-memory", value_name = "SIZE", value_parser = size)]
    lua_memory: Option<usize>,
    /// Serve the remote command interface (ned-prompt --connect PATH) on a
    /// new Unix socket at PATH, mode 0600 (docs/prompt.md).
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// VM instructions one remote command may run before it is stopped
    /// (default 1073741824; 0: no limit).
    #[arg(long = "command-budget", value_name = "N")]
    command_budget: Option<u64>,
    /// Reap orphaned descendants as a child subreaper: the default (kept
    /// for scripts that pass it; as PID 1 every orphan is ned's anyway).
    #[arg(long = "subreaper")]
    _subreaper: bool,
    /// Stop when the task with log tag TAG ends and exit with its status
    /// (128 + N when signal N killed it).
    #[arg(long = "exit-code-from", value_name = "TAG")]
    exit_code_from: Option<String>,
    /// Write the boot timeline (an SVG picture of every task's start,
    /// readiness, restarts and end) to FILE when ned exits.
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Prefix each task line with the time ned read it: RFC 3339 UTC with
    /// milliseconds (utc, the default) or seconds since boot (mono).
    #[arg(long = "log-time", value_name = "CLOCK", num_args = 0..=1, require_equals = true,
          default_missing_value = "utc", value_parser = clock)]
    log_time: Option<Time>,
    /// How task lines are printed: text (`tag | line`) or json (one object
    /// per line, ned's own diagnostics too).
    #[arg(long = "log-format", value_name = "FORMAT", value_parser = format)]
    log_format: Option<Format>,
    /// Print ned's own events (task started, exited, ...) in text mode.
    #[arg(long = "log-events")]
    log_events: bool,
    /// Mark task stderr lines with `!` instead of `|`.
    #[arg(long = "log-streams")]
    log_streams: bool,
    /// On a terminal, pass control characters and escape sequences through
    /// instead of showing them escaped.
    #[arg(long = "log-raw")]
    log_raw: bool,
    /// After the script: exit at once, terminating the tasks.
    #[arg(long, hide = true)]
    exit: bool,
    /// After the script: exit once no task is alive.
    #[arg(long = "wait-and-exit", hide = true)]
    wait_and_exit: bool,
}

/// The parsed command line.
#[derive(Debug)]
pub struct Options {
    pub mode: Mode,
    pub execute: Vec<String>,
    pub rom: Option<PathBuf>,
    pub lua_root: Option<PathBuf>,
    /// `--cap` caps, opened, in command-line order.
    pub caps: Vec<(String, Cap)>,
    pub lua_memory: Option<usize>,
    pub control: Option<PathBuf>,
    pub command_budget: Option<u64>,
    pub exit_code_from: Option<String>,
    pub timeline: Option<PathBuf>,
    pub script: Option<PathBuf>,
    pub args: Vec<OsString>,
    /// The log options of the command line (`escape` and `colors` are
    /// left to the caller, who knows the console).
    pub log: LogOptions,
    pub log_raw: bool,
}

/// The usage line, `Usage: ned ...`.
pub fn usage() -> String {
    <Flags as clap::CommandFactory>::command()
        .render_usage()
        .to_string()
}

/// Options that take a value as the next argument.
const VALUE_OPTIONS: [&str; 11] = [
    "--control",
    "--command-budget",
    "--exit-code-from",
    "--timeline",
    "--log-format",
    "-e",
    "--execute",
    "--rom",
    "--lua-root",
    "--lua-memory",
    "--cap",
];

/// A path that names a directory (followed through symlinks).
fn directory() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::PathBufValueParser::new().try_map(|p: PathBuf| match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(p),
        Ok(_) => Err("not a directory".to_owned()),
        Err(e) => Err(e.to_string()),
    })
}

/// `SIZE`: bytes, or a number with a K, M or G suffix (powers of 1024).
fn size(s: &str) -> Result<usize, String> {
    let (digits, shift) = match s.as_bytes().last().map(u8::to_ascii_uppercase) {
        Some(b'K') => (&s[..s.len() - 1], 10),
        Some(b'M') => (&s[..s.len() - 1], 20),
        Some(b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let bad = || format!("'{s}' is not a size (bytes, or a number with K, M or G: 64M, 1G)");
    let n: usize = digits.parse().map_err(|_| bad())?;
    let bytes = n.checked_mul(1 << shift).ok_or_else(bad)?;
    if bytes == 0 {
        return Err("the Lua memory limit must be more than 0".into());
    }
    Ok(bytes)
}

/// `--log-time` clocks.
fn clock(s: &str) -> Result<Time, String> {
    Time::parse(s).ok_or_else(|| format!("'{s}' is no clock (utc, mono or off)"))
}

/// `--log-format` values.
fn format(s: &str) -> Result<Format, String> {
    match s {
        "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        _ => Err(format!("'{s}' is no log format (text or json)")),
    }
}

pub fn parse(mut argv: Vec<OsString>) -> Result<Options, clap::Error> {
    let mode = match argv.first().and_then(|a| a.to_str()) {
        Some("--exit") => Mode::Exit,
        Some("--wait-and-exit") => Mode::WaitAndExit,
        _ => Mode::Serve,
    };
    if mode != Mode::Serve {
        argv.remove(0);
    }
    // The script is the first argument that is neither an option nor an
    // option's value; `-e` may also be glued (`-eSTMT`).
    let mut i = 0;
    while i < argv.len() {
        let a = argv[i].to_string_lossy();
        if a == "--" {
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        i += if VALUE_OPTIONS.contains(&a.as_ref()) {
            2
        } else {
            1
        };
    }
    let i = i.min(argv.len());
    let mut rest = argv.split_off(i);
    if rest.first().is_some_and(|a| a == "--") {
        rest.remove(0);
    }
    let flags = Flags::try_parse_from(std::iter::once(OsString::from("ned")).chain(argv))?;
    if flags.exit || flags.wait_and_exit {
        return Err(clap::Error::raw(
            clap::error::ErrorKind::ArgumentConflict,
            "--exit and --wait-and-exit are only accepted as the first argument\n",
        )
        .with_cmd(&<Flags as clap::CommandFactory>::command()));
    }
    let script = (!rest.is_empty()).then(|| PathBuf::from(rest.remove(0)));
    if script.is_none() && flags.execute.is_empty() {
        return Err(clap::Error::raw(
            clap::error::ErrorKind::MissingRequiredArgument,
            "a script (or at least one -e STATEMENT) is required\n",
        )
        .with_cmd(&<Flags as clap::CommandFactory>::command()));
    }
    let caps = named_caps(&flags.cap).map_err(|msg| {
        clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{msg}\n"))
            .with_cmd(&<Flags as clap::CommandFactory>::command())
    })?;
    Ok(Options {
        mode,
        execute: flags.execute,
        rom: flags.rom,
        lua_root: flags.lua_root,
        caps,
        lua_memory: flags.lua_memory,
        control: flags.control,
        command_budget: flags.command_budget,
        exit_code_from: flags.exit_code_from,
        timeline: flags.timeline,
        script,
        args: rest,
        log: LogOptions {
            format: flags.log_format.unwrap_or_default(),
            time: flags.log_time.unwrap_or_default(),
            events: flags.log_events,
            mark_stderr: flags.log_streams,
            ..LogOptions::default()
        },
        log_raw: flags.log_raw,
    })
}

/// The caps of every `--cap NAME=PATH[:RIGHTS]` (spec §6), opened: a
/// directory becomes a directory cap, a regular file a file cap, a Unix
/// socket a channel client. RIGHTS are letters of `rwsdnc` (either case;
/// `r` is always in), default `rws` as for ned's other caps; a path that
/// contains `:` needs an explicit `:RIGHTS`. Every malformed value is a
/// usage error naming it.
fn named_caps(values: &[String]) -> Result<Vec<(String, Cap)>, String> {
    let mut caps: Vec<(String, Cap)> = Vec::new();
    for value in values {
        let bad =
            |why: String| format!("invalid value '{value}' for '--cap NAME=PATH[:RIGHTS]': {why}");
        let Some((name, rest)) = value.split_once('=') else {
            return Err(bad("no '=' between the name and the path".into()));
        };
        ned_core::cap::check_name(name).map_err(|e| bad(e.to_string()))?;
        if caps.iter().any(|(n, _)| n == name) {
            return Err(bad(format!("the name '{name}' is given twice")));
        }
        let (path, rights) = match rest.rsplit_once(':') {
            Some((path, letters)) => {
                if let Some(c) = letters.chars().find(|c| !"rwsdncRWSDNC".contains(*c)) {
                    return Err(bad(format!(
                        "unknown rights letter '{c}' (RIGHTS are letters of rwsdnc)"
                    )));
                }
                if letters.is_empty() {
                    return Err(bad("no rights after ':'".into()));
                }
                (path, Rights::parse(letters.as_bytes()))
            }
            None => (rest, Rights::RWS),
        };
        if path.is_empty() {
            return Err(bad("the path is missing".into()));
        }
        let object = Object::from_path(Path::new(path))
            .map_err(|e| bad(format!("{:#}", anyhow::Error::new(e))))?;
        caps.push((name.to_owned(), Cap::new(object, rights)));
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, clap::Error> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn exit_options_only_first() {
        assert_eq!(p(&["--exit", "s.lua"]).unwrap().mode, Mode::Exit);
        assert_eq!(
            p(&["--wait-and-exit", "s.lua"]).unwrap().mode,
            Mode::WaitAndExit
        );
        assert!(p(&["-e", "x=1", "--exit", "s.lua"]).is_err());
        // After the script it is the script's argument.
        let o = p(&["s.lua", "--exit", "-e", "x"]).unwrap();
        assert_eq!(o.mode, Mode::Serve);
        assert_eq!(o.args, vec!["--exit", "-e", "x"]);
    }

    #[test]
    fn statements_and_options_before_script() {
        let o = p(&["-e", "a=1", "--execute", "b=2", "--rom", "/", "s.lua", "x"]).unwrap();
        assert_eq!(o.execute, vec!["a=1", "b=2"]);
        assert_eq!(o.rom, Some(PathBuf::from("/")));
        assert_eq!(o.script, Some(PathBuf::from("s.lua")));
        assert_eq!(o.args, vec!["x"]);
    }

    #[test]
    fn named_caps_of_every_kind() {
        let dir = std::env::temp_dir().join(format!("ned-cli-caps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, "x").unwrap();
        let sock = dir.join("s");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let arg =
            |name: &str, p: &Path, rights: &str| format!("--cap={name}={}{rights}", p.display());
        let o = p(&[
            &arg("rwfs", &dir, ""),
            &arg("data", &file, ":r"),
            &arg("svc", &sock, ":W"),
            "s.lua",
        ])
        .unwrap();
        let seen: Vec<(&str, &str, u32)> = o
            .caps
            .iter()
            .map(|(n, c)| (n.as_str(), c.kind().name(), c.rights.0))
            .collect();
        assert_eq!(
            seen,
            [
                ("rwfs", "Directory", Rights::RWS.0),
                ("data", "File", Rights::R),
                ("svc", "Ipc_gate", Rights::R | Rights::W)
            ]
        );
        let bad = [
            "x".to_owned(),
            "x=".to_owned(),
            format!("x={}:", dir.display()),
            format!("x={}:rwq", dir.display()),
            format!("{}={}", "n".repeat(17), dir.display()),
            format!("={}", dir.display()),
            format!("x={}/missing", dir.display()),
            "x=/dev/null".to_owned(),
        ];
        for v in &bad {
            let e = p(&["--cap", v, "s.lua"])
                .err()
                .unwrap_or_else(|| panic!("{v} accepted"));
            assert_eq!(e.kind(), clap::error::ErrorKind::InvalidValue, "{v}: {e}");
        }
        let twice = arg("x", &dir, "");
        assert!(p(&[&twice, &twice, "s.lua"]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn usage_errors() {
        assert!(p(&[]).is_err());
        assert!(p(&["--bogus", "s.lua"]).is_err());
        assert!(p(&["-e"]).is_err());
        assert!(p(&["--rom"]).is_err());
        assert!(p(&["--rom", "/nonexistent", "s.lua"]).is_err());
        assert!(p(&["--lua-root", "/etc/passwd", "s.lua"]).is_err());
        assert!(p(&["--lua-memory", "lots", "s.lua"]).is_err());
    }

    #[test]
    fn log_options() {
        let o = p(&["s.lua"]).unwrap();
        assert_eq!(
            (o.log.format, o.log.time, o.log.events),
            (Format::Text, Time::Off, false)
        );
        let o = p(&[
            "--log-time",
            "--log-format",
            "json",
            "--log-events",
            "--log-raw",
            "s.lua",
        ])
        .unwrap();
        assert_eq!(
            (o.log.format, o.log.time, o.log.events),
            (Format::Json, Time::Utc, true)
        );
        assert!(o.log_raw);
        assert_eq!(o.script, Some(PathBuf::from("s.lua")));
        let o = p(&[
            "--log-time=mono",
            "--log-streams",
            "--log-format=text",
            "s.lua",
        ])
        .unwrap();
        assert_eq!((o.log.time, o.log.mark_stderr), (Time::Mono, true));
        for bad in [
            &["--log-time=utc3", "s.lua"][..],
            &["--log-format", "xml", "s.lua"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn control_options_take_values_before_the_script() {
        let o = p(&[
            "--control",
            "/run/ned.sock",
            "--command-budget",
            "0",
            "s.lua",
            "x",
        ])
        .unwrap();
        assert_eq!(o.control, Some(PathBuf::from("/run/ned.sock")));
        assert_eq!(o.command_budget, Some(0));
        assert_eq!(o.script, Some(PathBuf::from("s.lua")));
        assert!(p(&["--command-budget", "lots", "s.lua"]).is_err());
        assert!(p(&["--control"]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("64M"), Ok(64 << 20));
        assert_eq!(size("1g"), Ok(1 << 30));
        assert_eq!(size("512K"), Ok(512 << 10));
        for bad in [
            "",
            "M",
            "0",
            "-1M",
            "1.5G",
            "1T",
            "1 G",
            "99999999999999999999G",
        ] {
            assert!(size(bad).is_err(), "{bad:?} accepted");
        }
        let o = p(&["--subreaper", "--exit-code-from", "db", "s.lua"]).unwrap();
        assert_eq!(o.exit_code_from.as_deref(), Some("db"));
        assert_eq!(o.script, Some(PathBuf::from("s.lua")));
        assert!(p(&["--exit-code-from"]).is_err());
        let o = p(&["--lua-memory", "50M", "s.lua"]).unwrap();
        assert_eq!(o.lua_memory, Some(50 << 20));
        assert_eq!(o.script, Some(PathBuf::from("s.lua")));
    }
}
