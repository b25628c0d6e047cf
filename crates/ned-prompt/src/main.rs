//! `ned-prompt`: the interactive prompt of ned (spec §13; docs/prompt.md).
//!
//! It reaches ned through the `svr` cap ned started it with (found by
//! `LISTEN_FDNAMES`), or a socket of `ned --control PATH` (`--connect PATH`
//! or `$NED_CONTROL`), and sends Lua chunks that ned runs in its main
//! state. Three ways to use it: `-e CHUNK` (one shot, for shell scripts),
//! a script on a pipe (stdin not a terminal), or the line editor
//! ([`repl`]). Each front end is its own module over [`wire::Conn`].

mod chunk;
mod repl;
use ned_prompt::wire;
mod top;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Exit statuses (docs/prompt.md).
const FAILED: u8 = 1;
const USAGE: u8 = 2;
const NO_NED: u8 = 3;

/// Send Lua chunks to a running ned and print the results.
#[derive(Parser, Debug)]
#[command(name = "ned-prompt", version)]
pub struct Args {
    /// Connect to `ned --control PATH` (default: $NED_CONTROL, else the
    /// `svr` cap ned started this prompt with).
    #[arg(long, value_name = "PATH")]
    connect: Option<PathBuf>,
    /// Run CHUNK and exit: status 0, or 1 when any chunk failed (repeatable,
    /// run in order; a bare expression prints its value).
    #[arg(short = 'e', long = "execute", value_name = "CHUNK")]
    execute: Vec<String>,
    /// History file of the line editor (default:
    /// $XDG_STATE_HOME/ned/prompt_history, else ~/.local/state/ned/prompt_history).
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Show the live view of ned's tasks (docs/prompt-helpers.md); plain
    /// text when stdout is not a terminal.
    #[arg(long)]
    top: bool,
    /// The prompt string.
    #[arg(default_value = "ned> ")]
    prompt: String,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { USAGE } else { 0 });
        }
    };
    let mut conn = match connect(&args) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("ned-prompt: {msg}");
            return ExitCode::from(NO_NED);
        }
    };
    ExitCode::from(if args.top {
        top::run(&mut conn)
    } else if !args.execute.is_empty() {
        one_shot(conn, &args.execute)
    } else if rustix::termios::isatty(rustix::stdio::stdin()) {
        repl::run(conn, &args)
    } else {
        piped(conn)
    })
}

/// The connection `args` name: `--connect`, `$NED_CONTROL`, or the `svr` cap.
fn connect(args: &Args) -> Result<wire::Conn, String> {
    let path = args.connect.clone().or_else(|| {
        std::env::var_os("NED_CONTROL")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = path {
        return wire::Conn::connect(&path).map_err(|e| {
            format!(
                "cannot connect to ned at {}: {e} (is ned running with --control {0}?)",
                path.display()
            )
        });
    }
    ned_spawn::take_listen_fds()
        .into_iter()
        .find(|(name, _)| name == "svr")
        .map(|(_, fd)| wire::Conn::from_fd(fd))
        .ok_or_else(|| {
            "no ned to talk to: no 'svr' cap (LISTEN_FDNAMES) and no --connect PATH or $NED_CONTROL"
                .to_owned()
        })
}

/// What one reply means to a person: the result (unless it is empty or
/// exactly `nil`) on stdout, or `Error calling ned: <code>` and the message
/// on stderr. Returns whether the chunk succeeded.
pub fn show(reply: &wire::Reply) -> bool {
    if reply.status == 0 {
        if !reply.text.is_empty() && reply.text != "nil" {
            println!("{}", reply.text);
        }
        return true;
    }
    eprintln!("Error calling ned: {}: {}", reply.status, reply.text);
    false
}

/// Sends one chunk, prints its outcome; `Err` when ned is gone.
pub fn send(
    conn: &mut wire::Conn,
    chunk: &str,
    interrupt: Option<&dyn wire::Interrupt>,
) -> Result<bool, u8> {
    match conn.call(chunk.as_bytes(), interrupt) {
        Ok(r) => Ok(show(&r)),
        Err(e) => {
            eprintln!("ned-prompt: {e}");
            Err(NO_NED)
        }
    }
}

fn one_shot(mut conn: wire::Conn, chunks: &[String]) -> u8 {
    let checker = chunk::Checker::new();
    let mut status = 0;
    for c in chunks {
        // A chunk cut short goes as it is: ned's -22 says what is missing.
        let src = match checker.form(c, true) {
            chunk::Form::Send(src) => src,
            chunk::Form::Incomplete => c.clone(),
        };
        match send(&mut conn, &src, None) {
            Ok(true) => {}
            Ok(false) => status = FAILED,
            Err(s) => return s,
        }
    }
    status
}

/// A script on stdin: chunks are gathered line by line as at the prompt
/// (a chunk cut short takes the next lines); 1 when any chunk failed.
fn piped(mut conn: wire::Conn) -> u8 {
    let checker = chunk::Checker::new();
    let mut status = 0;
    let mut buffer = String::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let first = buffer.is_empty();
        if !first {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        if buffer.trim().is_empty() {
            buffer.clear();
            continue;
        }
        let chunk::Form::Send(src) = checker.form(&buffer, first) else {
            continue;
        };
        buffer.clear();
        match send(&mut conn, &src, None) {
            Ok(true) => {}
            Ok(false) => status = FAILED,
            Err(s) => return s,
        }
    }
    if !buffer.trim().is_empty() {
        match send(&mut conn, &buffer, None) {
            Ok(true) => {}
            Ok(false) => status = FAILED,
            Err(s) => return s,
        }
    }
    status
}
