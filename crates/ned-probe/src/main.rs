//! `ned-probe`: prints, as one JSON object on stdout, what the program ned
//! started actually received — pid, argv, environment, the systemd
//! socket-activation variables and every open fd with its kind and access
//! mode — then exits 0. Tests start it as a task and compare the report
//! with what the script granted (spec §10).
//!
//! Options (anywhere in argv; everything else is only reported):
//! `--exit N` exit with code N after printing; `--sleep SECS` sleep after
//! printing, so a test can inspect the live task; `--stdout-lines N` print
//! `line 1` .. `line N` after the JSON, for log tests; `--try ACTION`
//! (repeatable) attempts one thing a sandbox may forbid, after the JSON, and
//! prints `try ACTION: ok` or `try ACTION: errno N` (see [`attempt`]).
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
    for action in &opts.tries {
        let result = match attempt(action) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(0)),
        };
        let _ = writeln!(out, "try {action}: {result}");
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
    tries: Vec<String>,
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
                "--try" => opts.tries.push(value("--try")),
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
    eprintln!("ned-probe: {option} needs an argument (a number, or an action for --try)");
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

/// One `--try` action, `NAME=ARG`:
///
/// * `read=PATH`, `ls=PATH`, `write=PATH` (append one byte, creating it):
///   the file system;
/// * `writefd=N`: write one byte to fd N; `reopen=N`: open
///   `/proc/self/fd/N` read-write (a read-only dataspace's way around);
///   `chmodreopen=N`: make the file behind fd N mode 0666 first;
/// * `tcp=ADDR`: connect to a TCP address (2 s timeout);
///   `udp=N,ADDR`: send one datagram from the socket at fd N to ADDR;
/// * `unix=PATH`: connect a SOCK_SEQPACKET socket (what a channel is) to a
///   path; `procfds=PID`: the same to every `/proc/PID/fd/N` below 256,
///   `ok` if any accepted (the way to a channel held by ned);
/// * `kill=PID`: `kill(PID, 0)`;
/// * `syscall=ptrace|mount|kexec`: a call no sandboxed task needs, made so
///   that it fails harmlessly without a filter (ESRCH, ENOENT, EBADF);
/// * `nnp`: `ok` if `no_new_privs` is set, else errno EPERM.
fn attempt(action: &str) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind, Read};
    let (name, arg) = action.split_once('=').unwrap_or((action, ""));
    let bad = || Error::new(ErrorKind::InvalidInput, format!("bad --try {action}"));
    let num = |s: &str| s.parse::<i32>().map_err(|_| bad());
    match name {
        "read" => std::fs::File::open(arg)?.read(&mut [0; 1]).map(drop),
        "ls" => std::fs::read_dir(arg)?.next().transpose().map(drop),
        "write" => std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(arg)?
            .write_all(b"x"),
        "writefd" => {
            // SAFETY: a write of one byte from a static buffer; a bad fd
            // only fails (EBADF).
            let n = unsafe { libc::write(num(arg)?, b"x".as_ptr().cast(), 1) };
            if n < 0 {
                Err(Error::last_os_error())
            } else {
                Ok(())
            }
        }
        "reopen" => std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/self/fd/{}", num(arg)?))
            .map(drop),
        "chmodreopen" => {
            use std::os::unix::fs::PermissionsExt;
            let path = format!("/proc/self/fd/{}", num(arg)?);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .map(drop)
        }
        "tcp" => {
            let addr: std::net::SocketAddr = arg.parse().map_err(|_| bad())?;
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map(drop)
        }
        "udp" => {
            let (fd, addr) = arg.split_once(',').ok_or_else(bad)?;
            let fd = num(fd)?;
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a number only; the new fd
            // (if any) is ours alone and owned right below.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                return Err(Error::last_os_error());
            }
            // SAFETY: `dup` was just created and nothing else owns it.
            let owned =
                unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) };
            std::net::UdpSocket::from(owned)
                .send_to(b"hello", addr)
                .map(drop)
        }
        "unix" => seqpacket_connect(arg),
        "procfds" => {
            let pid = num(arg)?;
            let mut last = Error::from_raw_os_error(libc::ENOENT);
            for n in 0..256 {
                match seqpacket_connect(&format!("/proc/{pid}/fd/{n}")) {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                }
            }
            Err(last)
        }
        "kill" => {
            // SAFETY: signal 0 only checks whether we may signal the pid.
            let rc = unsafe { libc::kill(num(arg)?, 0) };
            if rc < 0 {
                Err(Error::last_os_error())
            } else {
                Ok(())
            }
        }
        "syscall" => {
            // SAFETY: each call only passes numbers and NULL pointers and
            // fails without a side effect: PTRACE_PEEKUSER on ourselves
            // (not traced: ESRCH), mount of nothing on a missing path
            // (ENOENT), kexec_file_load of fd -1 (EBADF).
            let rc = unsafe {
                match arg {
                    "ptrace" => libc::syscall(
                        libc::SYS_ptrace,
                        libc::PTRACE_PEEKUSER,
                        libc::getpid(),
                        0,
                        0,
                    ),
                    "mount" => libc::syscall(
                        libc::SYS_mount,
                        c"none".as_ptr(),
                        c"/nonexistent-ned-probe".as_ptr(),
                        c"tmpfs".as_ptr(),
                        0,
                        std::ptr::null::<libc::c_void>(),
                    ),
                    "kexec" => libc::syscall(
                        libc::SYS_kexec_file_load,
                        -1,
                        -1,
                        0,
                        std::ptr::null::<libc::c_char>(),
                        0,
                    ),
                    _ => return Err(bad()),
                }
            };
            if rc < 0 {
                Err(Error::last_os_error())
            } else {
                Ok(())
            }
        }
        "nnp" => {
            // SAFETY: plain values only.
            match unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } {
                1 => Ok(()),
                0 => Err(Error::from_raw_os_error(libc::EPERM)),
                _ => Err(Error::last_os_error()),
            }
        }
        _ => Err(bad()),
    }
}

/// Connects a new SOCK_SEQPACKET Unix socket to `path`.
fn seqpacket_connect(path: &str) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain values; the new fd is owned right below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_un is valid (AF_UNSPEC, empty path).
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: `addr` is a live, NUL-terminated sockaddr_un and the length
    // passed is its size.
    let rc = unsafe {
        libc::connect(
            sock.as_raw_fd(),
            std::ptr::from_ref(&addr).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}
