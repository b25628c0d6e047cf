//! Taking over the descriptors ned itself was started with.
//!
//! A ned started by another ned (or by systemd) receives its caps the way
//! every task does: fds 3.. announced by `LISTEN_FDS`, `LISTEN_PID` and
//! `LISTEN_FDNAMES` (sd_listen_fds(3)). Turning those raw numbers into owned
//! descriptors is the one place outside the spawn path where ned must assert
//! ownership of an fd it did not open, so it lives here.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Fds are passed from 3 on, by the socket-activation convention.
const FIRST_FD: RawFd = 3;
/// More than this is not a plausible cap set; the variables are ignored.
const MAX_FDS: usize = 4096;

static TAKEN: AtomicBool = AtomicBool::new(false);

/// Adopts the fds announced to this process by `LISTEN_*`, once.
///
/// Returns `(name, fd)` pairs; names come from `LISTEN_FDNAMES`, or are
/// `fd<N>` where it names none. Nothing is adopted when `LISTEN_PID` is not
/// this process (the variables were meant for someone else), when the
/// variables are malformed, or on a second call. Each adopted fd is made
/// close-on-exec: tasks only ever get what a script grants them.
pub fn take_listen_fds() -> Vec<(String, OwnedFd)> {
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    let var = |k: &str| std::env::var(k).ok();
    let pid_ok = var("LISTEN_PID")
        .and_then(|p| p.parse::<i32>().ok())
        .is_some_and(|p| p == rustix::process::getpid().as_raw_nonzero().get());
    let count = var("LISTEN_FDS").and_then(|n| n.parse::<usize>().ok());
    let (true, Some(count)) = (pid_ok, count) else {
        return Vec::new();
    };
    if count > MAX_FDS {
        return Vec::new();
    }
    let names = var("LISTEN_FDNAMES").unwrap_or_default();
    let mut names = names.split(':');
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let raw = FIRST_FD + i as RawFd;
        let name = names
            .next()
            .filter(|n| !n.is_empty())
            .map_or_else(|| format!("fd{raw}"), str::to_owned);
        // SAFETY: F_GETFD on any integer only reads that fd's flags or fails
        // with EBADF; it touches no memory and changes nothing.
        let open = unsafe { libc::fcntl(raw, libc::F_GETFD) } >= 0;
        if !open {
            continue;
        }
        // SAFETY: `raw` is open, was handed to this process by its parent
        // under the LISTEN_* convention (LISTEN_PID is our pid), and the
        // TAKEN flag makes this the only place that ever adopts it, so no
        // other owner exists in this process.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A failure leaves the fd inheritable, which only matters for a
        // plain exec: ned's own spawn closes every fd it does not grant.
        let _ = rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC);
        out.push((name, fd));
    }
    out
}
