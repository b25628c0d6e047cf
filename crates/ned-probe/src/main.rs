//! `ned-probe`: prints, as one JSON object on stdout, what the program ned
//! started actually received — pid, argv, environment, the systemd
//! socket-activation variables and every open fd with its kind and access
//! mode — then exits 0. Tests start it as a task and compare the report
//! with what the script granted (spec §10).
//!
//! Options (anywhere in argv; everything else is only reported):
//! `--exit N` exit with code N after printing; `--sleep SECS` sleep after
//! printing, so a test can inspect the live task; `--stdout-lines N` print
//! `line 1` .. `line N` after the JSON, for log tests.
//!
//! Almost everything is read from /proc without `unsafe`: the link target of
//! `/proc/self/fd/N` gives the kind, `stat` through the same link tells
//! directories, files and devices apart, and `/proc/self/fdinfo/N` holds the
//! open flags (`F_GETFL`). Only the two socket questions (type and whether
//! it listens) need `getsockopt`, the one place with `unsafe`; the probe
//! depends on libc and serde_json only, as fixed in the workspace lockfile.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::time::Duration;

use serde_json::{Value, json};

fn main() {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let opts = Options::parse(&argv);

    // Enumerate fds before anything else opens one.
    let fds: Vec<Value> = open_fds().into_iter().filter_map(describe_fd).collect();
    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let pid = std::process::id();
    let listen_pid: Option<u64> = env.get("LISTEN_PID").and_then(|v| v.parse().ok());
    let report = json!({
        "pid": pid,
        "argv": argv,
        "listen": {
            "fds": env.get("LISTEN_FDS").and_then(|v| v.parse::<u64>().ok()),
            "pid": listen_pid,
            "fdnames": env.get("LISTEN_FDNAMES").map(|v| v.split(':').collect::<Vec<_>>()),
            "pid_matches": listen_pid == Some(u64::from(pid)),
        },
        "env": env,
        "fds": fds,
    });

    let mut out = std::io::stdout().lock();
    // A closed or broken stdout is not the probe's problem to report.
    let _ = writeln!(out, "{report}");
    for i in 1..=opts.stdout_lines {
        let _ = writeln!(out, "line {i}");
    }
    let _ = out.flush();
    drop(out);
    if let Some(secs) = opts.sleep {
        std::thread::sleep(secs);
    }
    std::process::exit(opts.exit);
}

#[derive(Default)]
struct Options {
    exit: i32,
    sleep: Option<Duration>,
    stdout_lines: u64,
}

impl Options {
    /// Picks the known options out of argv; a bad value is fatal (exit 2),
    /// anything unknown is left alone.
    fn parse(argv: &[String]) -> Self {
        let mut opts = Self::default();
        let mut it = argv.iter().skip(1);
        while let Some(arg) = it.next() {
            let mut value =
                |name: &str| -> String { it.next().cloned().unwrap_or_else(|| usage(name)) };
            match arg.as_str() {
                "--exit" => opts.exit = value("--exit").parse().unwrap_or_else(|_| usage("--exit")),
                "--sleep" => {
                    let secs: f64 = value("--sleep")
                        .parse()
                        .unwrap_or_else(|_| usage("--sleep"));
                    opts.sleep = Duration::try_from_secs_f64(secs).ok();
                }
                "--stdout-lines" => {
                    opts.stdout_lines = value("--stdout-lines")
                        .parse()
                        .unwrap_or_else(|_| usage("--stdout-lines"))
                }
                _ => {}
            }
        }
        opts
    }
}

fn usage(option: &str) -> ! {
    eprintln!("ned-probe: {option} needs a numeric argument");
    std::process::exit(2)
}

/// The numbers of our open fds, without the one used to read the directory.
///
/// `read_dir` lists its own fd too. We collect the names, close the
/// directory, and keep only the numbers whose `/proc/self/fd/N` link still
/// resolves: the directory's fd is closed by then, every other fd is not.
fn open_fds() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    let mut fds: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

/// One entry of the `fds` array, or `None` if `fd` is not open (the
/// directory fd of `open_fds`).
fn describe_fd(fd: i32) -> Option<Value> {
    let link = format!("/proc/self/fd/{fd}");
    let target = std::fs::read_link(&link)
        .ok()?
        .to_string_lossy()
        .into_owned();
    let kind = kind_of(&link, &target);
    let mut entry = json!({
        "fd": fd,
        "kind": kind,
        "access": access_of(fd),
        "target": target,
    });
    if kind == "socket" {
        entry["socktype"] = json!(sockopt(fd, libc::SO_TYPE).map(|t| match t {
            libc::SOCK_STREAM => "stream",
            libc::SOCK_SEQPACKET => "seqpacket",
            libc::SOCK_DGRAM => "dgram",
            _ => "other",
        }));
        entry["listening"] = json!(sockopt(fd, libc::SO_ACCEPTCONN).map(|v| v != 0));
    }
    Some(entry)
}

/// The kind from the link target (anonymous and special files), else from
/// `stat` through the link.
fn kind_of(link: &str, target: &str) -> &'static str {
    if target.starts_with("socket:[") {
        "socket"
    } else if target.starts_with("pipe:[") {
        "pipe"
    } else if target.starts_with("/memfd:") {
        "memfd"
    } else if target == "anon_inode:[eventfd]" {
        "eventfd"
    } else if target == "anon_inode:[pidfd]" || target.starts_with("pidfd:") {
        // Linux 6.9 moved pidfds to pidfs; the link still reads
        // "anon_inode:[pidfd]" for compatibility, accept both.
        "pidfd"
    } else {
        match std::fs::metadata(link).map(|m| m.file_type()) {
            Ok(t) if t.is_dir() => "dir",
            Ok(t) if t.is_file() => "file",
            Ok(t) if t.is_char_device() => "chr",
            Ok(t) if t.is_fifo() => "pipe",
            Ok(t) if t.is_socket() => "socket",
            _ => "other",
        }
    }
}

/// "r", "w", "rw" or "path" (O_PATH), from the octal `flags:` line of
/// /proc/self/fdinfo/N (the same value `fcntl(F_GETFL)` returns).
fn access_of(fd: i32) -> &'static str {
    let flags = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
        .ok()
        .and_then(|info| {
            let line = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
            i32::from_str_radix(line.trim(), 8).ok()
        });
    match flags {
        None => "unknown",
        Some(f) if f & libc::O_PATH != 0 => "path",
        Some(f) => match f & libc::O_ACCMODE {
            libc::O_RDONLY => "r",
            libc::O_WRONLY => "w",
            _ => "rw",
        },
    }
}

/// An int-valued SOL_SOCKET option, `None` if the call fails.
fn sockopt(fd: i32, option: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live locals; `len` holds the size of
    // `value`, so the kernel writes at most that many bytes. A bad `fd` only
    // makes the call fail (EBADF/ENOTSOCK).
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(value)
}
