//! `spawn-baseline N PROGRAM [ARGS...]`: the baseline for ned's start
//! benchmark — start N processes of PROGRAM with plain `posix_spawn` and
//! reap them with `waitpid`, then print the elapsed time.
//!
//! Shape of the run, chosen to match what ned does when a script starts many
//! tasks: processes are started back to back, not one at a time (ned does
//! not wait for a task to exit before starting the next), while exits are
//! reaped as they come. At most [`IN_FLIGHT`] children are alive at once, so
//! a large N measures start cost rather than the machine's process limit or
//! scheduler behaviour with thousands of runnable processes; when the window
//! is full we block in `waitpid` for any child. Children get an empty
//! environment and inherit stdio; no fd actions, no attributes — the
//! cheapest thing posix_spawn can do. (glibc's posix_spawn itself uses
//! `clone(CLONE_VM | CLONE_VFORK)`, so the difference to ned-spawn is the
//! per-task work ned adds: fd plan, close_range, signal reset, LISTEN_PID.)
//!
//! Output, one line on stdout, key=value for scripts:
//! `processes=N seconds=S per_process_us=U failed=F`. Exit status 1 if any
//! child failed to start or exited non-zero.

use std::ffi::{CString, c_char};
use std::process::ExitCode;
use std::ptr;
use std::time::Instant;

/// Most children alive at once (see the module docs).
const IN_FLIGHT: usize = 64;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(n), Some(program)) = (
        args.first().and_then(|n| n.parse::<usize>().ok()),
        args.get(1),
    ) else {
        eprintln!(
            "usage: spawn-baseline N PROGRAM [ARGS...]  (PROGRAM is a path, no $PATH search)"
        );
        return ExitCode::from(2);
    };
    let Ok(argv_c) = args[1..]
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("spawn-baseline: arguments must not contain NUL bytes");
        return ExitCode::from(2);
    };
    let path = &argv_c[0];
    let argv: Vec<*mut c_char> = argv_c
        .iter()
        .map(|a| a.as_ptr().cast_mut())
        .chain(std::iter::once(ptr::null_mut()))
        .collect();
    let envp: [*mut c_char; 1] = [ptr::null_mut()];

    let mut failed = 0usize;
    let mut alive = 0usize;
    let start = Instant::now();
    for _ in 0..n {
        if alive == IN_FLIGHT {
            failed += reap_one();
            alive -= 1;
        }
        let mut pid: libc::pid_t = 0;
        // SAFETY: `pid` is a live out-parameter; NULL file actions and
        // attributes are allowed; `path` is a C string and `argv`/`envp` are
        // NULL-terminated arrays of C strings that outlive the call
        // (posix_spawn returns only after the child has exec'd or failed).
        let rc = unsafe {
            libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                ptr::null(),
                ptr::null(),
                argv.as_ptr(),
                envp.as_ptr(),
            )
        };
        if rc == 0 {
            alive += 1;
        } else {
            if failed == 0 {
                eprintln!(
                    "spawn-baseline: {program}: {}",
                    std::io::Error::from_raw_os_error(rc)
                );
            }
            failed += 1;
        }
    }
    while alive > 0 {
        failed += reap_one();
        alive -= 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_us = if n == 0 { 0.0 } else { secs * 1e6 / n as f64 };
    println!("processes={n} seconds={secs:.6} per_process_us={per_us:.2} failed={failed}");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Blocks until any child exits; returns 1 if it failed (non-zero exit or
/// killed), else 0.
fn reap_one() -> usize {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live out-parameter; -1 waits for any child.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid > 0 {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // ECHILD cannot happen while `alive > 0`; count it as a failure.
            return 1;
        }
    }
    usize::from(!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0))
}
