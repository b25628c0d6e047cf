//! `reset_inherited_signals` in a process that was started with SIGCHLD,
//! SIGHUP and SIGUSR1 ignored.
//!
//! The check needs a fresh process, so this test binary has its own `main`
//! (`harness = false`): run normally, it starts itself again with those
//! signals set to SIG_IGN just before exec and the variable below set; that
//! child checks its inherited state, calls the function and checks again,
//! and the parent asserts that the child passed, within a guard timeout.

use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use ned_spawn::{Command, Exit, SpawnError, Spawner, reset_inherited_signals, wait};

const CHILD_VAR: &str = "NED_SPAWN_INHERITED_SIGNALS_CHILD";
const IGNORED: [i32; 3] = [libc::SIGCHLD, libc::SIGHUP, libc::SIGUSR1];
const GUARD: Duration = Duration::from_secs(30);

fn main() {
    if std::env::var_os(CHILD_VAR).is_some() {
        child();
    } else {
        parent();
        println!("test reset_inherited_signals_undoes_sig_ign ... ok");
    }
}

fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// This process's ignored-signal mask, from /proc (the test may use /proc;
/// the function under test does not).
fn sig_ign() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

/// Starts /bin/true with ned-spawn and waits for it through its pidfd.
fn run_true() -> Result<Exit, SpawnError> {
    let null = std::fs::File::open("/dev/null").unwrap();
    let child = Spawner::new().spawn(&Command {
        path: c"/bin/true",
        argv: &[c"true".to_owned()],
        env: &[],
        stdio: [null.as_fd(), null.as_fd(), null.as_fd()],
        fds: &[],
        listen_pid: false,
        cpus: None,
        nice: None,
        new_group: false,
        isolation: None,
        cgroup_procs: &[],
        rlimits: &[],
    })?;
    wait(child.pidfd.as_fd())
}

fn child() {
    let before = sig_ign();
    for sig in IGNORED {
        assert_ne!(
            before & bit(sig),
            0,
            "signal {sig} not inherited as ignored"
        );
    }
    // With SIGCHLD ignored the kernel reaps the child itself, so waiting on
    // its pidfd fails: the state ned must not keep.
    let err = run_true().unwrap_err();
    assert!(matches!(err, SpawnError::Wait { .. }), "{err:?}");
    assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::ECHILD));

    reset_inherited_signals(&[libc::SIGCHLD, libc::SIGHUP, libc::SIGUSR1]);

    // Those three are back to SIG_DFL; what else was ignored (Rust's own
    // SIGPIPE, say) is left as it was.
    let reset = bit(libc::SIGCHLD) | bit(libc::SIGHUP) | bit(libc::SIGUSR1);
    assert_eq!(sig_ign(), before & !reset);
    assert_eq!(sig_ign() & reset, 0);
    assert_eq!(run_true().unwrap(), Exit::Code(0));
}

fn parent() {
    let mut cmd = StdCommand::new(std::env::current_exe().unwrap());
    cmd.env(CHILD_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure only calls signal(), which is async-signal-safe,
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for sig in IGNORED {
                if libc::signal(sig, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not finish within {GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "child failed ({status}):\n{out}");
}
