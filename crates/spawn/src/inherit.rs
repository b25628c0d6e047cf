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
pub const MAX_FDS: usize = 4096;

static TAKEN: AtomicBool = AtomicBool::new(false);

/// Adopts the fds announced to this process by `LISTEN_*`, once.
///
/// Returns `(name, fd)` pairs, named as [`parse_listen`] says. Nothing is
/// adopted when the variables are not for this process or malformed, or on
/// a second call. Each adopted fd is made close-on-exec: tasks only ever
/// get what a script grants them.
pub fn take_listen_fds() -> Vec<(String, OwnedFd)> {
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    let var = |k: &str| std::env::var(k).ok();
    let me = rustix::process::getpid().as_raw_nonzero().get();
    let Some(names) = parse_listen(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        me,
    ) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(names.len());
    for (raw, name) in (FIRST_FD..).zip(names) {
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

/// Reads the values of `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`
/// (each `None` when unset) as process `me` got them: the names of fds 3,
/// 4, ..., one per fd announced. A name comes from `LISTEN_FDNAMES` (split
/// at `:`), or is `fd<N>` where it names none (too few names, or an empty
/// one). `None` when `LISTEN_PID` is not `me` (the variables were meant for
/// someone else), when `LISTEN_PID` or `LISTEN_FDS` is not a decimal
/// number, or when more than [`MAX_FDS`] fds are announced.
pub fn parse_listen(
    pid: Option<&str>,
    fds: Option<&str>,
    names: Option<&str>,
    me: i32,
) -> Option<Vec<String>> {
    if pid?.parse::<i32>().ok()? != me {
        return None;
    }
    let count = fds?.parse::<usize>().ok()?;
    if count > MAX_FDS {
        return None;
    }
    let mut names = names.unwrap_or_default().split(':');
    Some(
        (FIRST_FD..)
            .take(count)
            .map(|raw| {
                names
                    .next()
                    .filter(|n| !n.is_empty())
                    .map_or_else(|| format!("fd{raw}"), str::to_owned)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn names_come_from_fdnames_or_the_fd_number() {
        let p = |pid, fds, n| parse_listen(pid, fds, n, 42);
        assert_eq!(
            p(Some("42"), Some("2"), Some("web:admin")),
            names(&["web", "admin"])
        );
        assert_eq!(
            p(Some("42"), Some("3"), Some("web::x:extra")),
            names(&["web", "fd4", "x"])
        );
        assert_eq!(p(Some("42"), Some("2"), None), names(&["fd3", "fd4"]));
        assert_eq!(p(Some("42"), Some("0"), Some("a")), names(&[]));
    }

    #[test]
    fn variables_for_someone_else_or_malformed_adopt_nothing() {
        let p = |pid, fds| parse_listen(pid, fds, Some("a"), 42);
        assert_eq!(p(Some("43"), Some("1")), None);
        assert_eq!(p(None, Some("1")), None);
        assert_eq!(p(Some("42"), None), None);
        assert_eq!(p(Some("42 "), Some("1")), None);
        assert_eq!(p(Some("42"), Some("-1")), None);
        assert_eq!(p(Some("42"), Some("99999999999999999999999")), None);
        let (max, over) = (MAX_FDS.to_string(), (MAX_FDS + 1).to_string());
        assert_eq!(p(Some("42"), Some(&over)), None);
        assert_eq!(p(Some("42"), Some(&max)).map(|v| v.len()), Some(MAX_FDS));
    }
}
