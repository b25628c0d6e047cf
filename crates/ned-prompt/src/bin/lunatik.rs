//! `lunatik`: upstream Lunatik's command, against a running ned (spec
//! lunatik §10; docs/lunatik.md). It reaches ned through `ned --control
//! PATH` (`--control PATH` or `$NED_CONTROL`) and drives `lunatik.runner`
//! in ned's main state:
//!
//!     lunatik run <script> [softirq]   lunatik spawn <script>
//!     lunatik stop <script>            lunatik list
//!     lunatik                          a REPL (ned-prompt, "lunatik> ")
//!
//! Unlike upstream, every failure exits non-zero: 1 when ned refused or the
//! script failed (its message on stderr), 2 for a usage error, 3 when ned
//! cannot be reached.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ned_prompt::wire::Conn;

const FAILED: u8 = 1;
const USAGE: u8 = 2;
const NO_NED: u8 = 3;

/// Manage Lunatik runtimes in a running ned.
#[derive(Parser, Debug)]
#[command(name = "lunatik", version)]
struct Args {
    /// The control socket of `ned --control PATH` (default: $NED_CONTROL).
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the script's runtime and register it (`softirq`: non-sleepable).
    Run {
        script: String,
        #[arg(value_parser = ["softirq", "process"])]
        context: Option<String>,
    },
    /// Run the script, then its body on a thread of its own.
    Spawn { script: String },
    /// Stop the script's thread and runtime.
    Stop { script: String },
    /// List the running scripts.
    List,
}

/// `s` as a Lua string literal that reads back as exactly its bytes,
/// whatever they are: nothing in a script name can change the chunk.
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 4 + 2);
    out.push('"');
    for b in s.bytes() {
        out.push_str(&format!("\\{b:03}"));
    }
    out.push('"');
    out
}

/// The chunk a command sends.
fn chunk(cmd: &Command) -> String {
    let call = match cmd {
        Command::Run { script, context } => format!(
            "runner.run({}, {})",
            lua_string(script),
            context.as_deref().map_or("nil".to_owned(), lua_string)
        ),
        Command::Spawn { script } => format!("runner.spawn({})", lua_string(script)),
        Command::Stop { script } => format!("runner.stop({})", lua_string(script)),
        Command::List => "return runner.list()".to_owned(),
    };
    let call = match cmd {
        Command::List => call,
        _ => format!("{call}; return"),
    };
    format!("local runner = require(\"lunatik.runner\"); {call}")
}

fn control(args: &Args) -> Option<PathBuf> {
    args.control.clone().or_else(|| {
        std::env::var_os("NED_CONTROL")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    })
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    let Some(path) = control(&args) else {
        eprintln!("lunatik: no ned to talk to: give --control PATH or set $NED_CONTROL");
        return ExitCode::from(NO_NED);
    };
    let Some(cmd) = &args.command else {
        return repl(&path);
    };
    let mut conn = match Conn::connect(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "lunatik: cannot connect to ned at {}: {e} (is ned running with --control {0}?)",
                path.display()
            );
            return ExitCode::from(NO_NED);
        }
    };
    match conn.call(chunk(cmd).as_bytes(), None) {
        Ok(r) if r.status == 0 => {
            if !r.text.is_empty() {
                println!("{}", r.text);
            }
            ExitCode::SUCCESS
        }
        Ok(r) => {
            eprintln!("lunatik: {}", r.text);
            ExitCode::from(FAILED)
        }
        Err(e) => {
            eprintln!("lunatik: {e}");
            ExitCode::from(NO_NED)
        }
    }
}

/// No command: the prompt, started as `ned-prompt` from this binary's own
/// directory, in ned's main state (where `lunatik.runner` lives).
fn repl(path: &std::path::Path) -> ExitCode {
    let prompt = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("ned-prompt")))
        .unwrap_or_else(|| PathBuf::from("ned-prompt"));
    let err = std::process::Command::new(&prompt)
        .arg("--connect")
        .arg(path)
        .arg("lunatik> ")
        .exec();
    eprintln!("lunatik: cannot start {}: {err}", prompt.display());
    ExitCode::from(NO_NED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_cannot_break_out_of_their_string() {
        let hostile = "x\"); os.exit(9) --\n]]";
        let lit = lua_string(hostile);
        assert!(lit.starts_with('"') && lit.ends_with('"'));
        assert!(!lit[1..lit.len() - 1].contains('"'));
        let lua = mlua::Lua::new();
        let back: String = lua.load(format!("return {lit}")).eval().unwrap();
        assert_eq!(back, hostile);
    }
}
