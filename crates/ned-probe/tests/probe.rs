//! Runs the real `ned-probe` binary and checks its report.
//!
//! Processes are started with std's Command (the probe's dependencies are
//! fixed); extra fds are passed by clearing their close-on-exec flag, so
//! tests only look at the fd numbers they created themselves.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::process::{Command, Stdio};

use serde_json::Value;

fn probe() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ned-probe"));
    cmd.env_clear()
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

fn report(cmd: &mut Command) -> (Value, String, Option<i32>) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (json, rest) = stdout.split_once('\n').unwrap();
    (
        serde_json::from_str(json).unwrap(),
        rest.to_string(),
        out.status.code(),
    )
}

fn fd_entry(report: &Value, fd: i32) -> &Value {
    report["fds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["fd"] == fd)
        .unwrap_or_else(|| panic!("fd {fd} missing from {report}"))
}

/// Lets `fd` survive exec into the probe.
fn inherit(fd: BorrowedFd<'_>) -> i32 {
    // SAFETY: F_SETFD with 0 only clears FD_CLOEXEC on an fd we own.
    assert_eq!(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) }, 0);
    fd.as_raw_fd()
}

#[test]
fn argv_env_and_listen() {
    let (r, rest, code) = report(probe().args(["a b", "--x"]).envs([
        ("FOO", "bar"),
        ("LISTEN_FDS", "2"),
        ("LISTEN_FDNAMES", "web:admin"),
        ("LISTEN_PID", "1"),
    ]));
    assert_eq!(code, Some(0));
    assert_eq!(rest, "");
    assert_eq!(r["argv"][1], "a b");
    assert_eq!(r["argv"][2], "--x");
    assert_eq!(r["env"].as_object().unwrap().len(), 4);
    assert_eq!(r["env"]["FOO"], "bar");
    assert_eq!(r["listen"]["fds"], 2);
    assert_eq!(r["listen"]["pid"], 1);
    assert_eq!(r["listen"]["fdnames"], serde_json::json!(["web", "admin"]));
    assert_eq!(r["listen"]["pid_matches"], false);
    assert!(r["pid"].as_u64().unwrap() > 1);
}

#[test]
fn no_listen_variables() {
    let (r, _, _) = report(&mut probe());
    assert_eq!(r["env"], serde_json::json!({}));
    assert_eq!(
        r["listen"],
        serde_json::json!({"fds": null, "pid": null, "fdnames": null, "pid_matches": false})
    );
}

#[test]
fn stdio_kinds() {
    let (r, _, _) = report(&mut probe());
    let stdin = fd_entry(&r, 0);
    assert_eq!(stdin["kind"], "chr");
    assert_eq!(stdin["access"], "r");
    assert_eq!(stdin["target"], "/dev/null");
    let stdout = fd_entry(&r, 1);
    assert_eq!(stdout["kind"], "pipe");
    assert_eq!(stdout["access"], "w");
}

#[test]
fn directory_fd_of_the_enumeration_is_not_reported() {
    let (r, _, _) = report(&mut probe());
    for e in r["fds"].as_array().unwrap() {
        assert_ne!(e["target"], format!("/proc/{}/fd", r["pid"]), "{e}");
        assert!(!e["target"].as_str().unwrap().ends_with("/fd"), "{e}");
    }
}

#[test]
fn options() {
    let (_, rest, code) = report(probe().args(["--stdout-lines", "3", "--exit", "5"]));
    assert_eq!(code, Some(5));
    assert_eq!(rest, "line 1\nline 2\nline 3\n");
    let out = probe().args(["--exit", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sleep_keeps_it_alive_after_printing() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let guard = Duration::from_secs(30);
    let start = Instant::now();
    let mut child = probe()
        .args(["--sleep", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The report is printed (and flushed) before the sleep: once its line
    // has arrived the probe must still be running. Read on a thread, so a
    // probe that never prints fails the test instead of hanging it.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = tx.send(stdout.read_line(&mut line).map(|_| line));
    });
    let Ok(line) = rx.recv_timeout(guard) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the probe printed nothing within {guard:?}");
    };
    let line = line.unwrap();
    assert!(line.starts_with('{'), "{line:?}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited right after printing"
    );
    // Then it exits by itself, successfully, after the sleep.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > guard {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the probe did not exit within {guard:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn kinds_access_and_sockets() {
    let dir = std::env::temp_dir().join(format!("ned-probe-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let listener = UnixListener::bind(dir.join("sock")).unwrap();
    let (dgram, _peer) = UnixDatagram::pair().unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.join("file"))
        .unwrap();
    let wfile = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("file"))
        .unwrap();
    let dirfd = std::fs::File::open(&dir).unwrap();
    let path_fd: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_path()
        .open(&dir)
        .unwrap()
        .into();
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();

    let cases = [
        (inherit(listener.as_fd()), "socket", "rw"),
        (inherit(dgram.as_fd()), "socket", "rw"),
        (inherit(file.as_fd()), "file", "rw"),
        (inherit(wfile.as_fd()), "file", "w"),
        (inherit(dirfd.as_fd()), "dir", "r"),
        (inherit(path_fd.as_fd()), "dir", "path"),
        (inherit(pipe_r.as_fd()), "pipe", "r"),
        (inherit(pipe_w.as_fd()), "pipe", "w"),
    ];
    let (r, _, _) = report(&mut probe());
    std::fs::remove_dir_all(&dir).unwrap();
    for (fd, kind, access) in cases {
        let e = fd_entry(&r, fd);
        assert_eq!(e["kind"], kind, "{e}");
        assert_eq!(e["access"], access, "{e}");
    }
    let l = fd_entry(&r, listener.as_raw_fd());
    assert_eq!(l["socktype"], "stream");
    assert_eq!(l["listening"], true);
    let d = fd_entry(&r, dgram.as_raw_fd());
    assert_eq!(d["socktype"], "dgram");
    assert_eq!(d["listening"], false);
    assert!(fd_entry(&r, file.as_raw_fd()).get("socktype").is_none());
}

/// O_PATH via OpenOptionsExt.
trait PathFlag {
    fn custom_flags_path(&mut self) -> &mut Self;
}

impl PathFlag for std::fs::OpenOptions {
    fn custom_flags_path(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_PATH)
    }
}

#[test]
fn anonymous_kinds() {
    use std::os::fd::FromRawFd;
    // SAFETY: each call returns a new fd (checked >= 0) that we then own.
    let own = |raw: i64| unsafe {
        assert!(raw >= 0, "{}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(raw as i32)
    };
    // SAFETY: valid C string, no flags.
    let memfd = own(unsafe { libc::memfd_create(c"probe".as_ptr(), 0) }.into());
    // SAFETY: plain syscall with an initial value and no flags.
    let eventfd = own(unsafe { libc::eventfd(0, 0) }.into());
    // SAFETY: pidfd_open(pid, flags) on our own pid, no memory passed.
    let pidfd = own(unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) });
    let cases = [
        (inherit(memfd.as_fd()), "memfd"),
        (inherit(eventfd.as_fd()), "eventfd"),
        (inherit(pidfd.as_fd()), "pidfd"),
    ];
    let (r, _, _) = report(&mut probe());
    for (fd, kind) in cases {
        assert_eq!(fd_entry(&r, fd)["kind"], kind);
    }
}
