//! Waiting for and signalling a started process through its pidfd.
//!
//! All three functions take the pidfd from [`crate::Child`], never a pid: a
//! pidfd keeps naming the same process even after the pid has been reused,
//! so ned can never signal or reap a stranger. Waiting uses
//! `waitid(P_PIDFD, ...)` (Linux 5.4), signalling `pidfd_send_signal`
//! (Linux 5.1).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::process::{WaitId, WaitIdOptions, WaitIdStatus, waitid};

use crate::SpawnError;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// It called `exit(code)` (or returned from `main`); Linux keeps the low
    /// 8 bits.
    Code(u8),
    /// It was killed by this signal number.
    Signal(i32),
}

/// Reaps the process if it has exited; `Ok(None)` while it is still running.
///
/// Reaping means the pidfd's process is gone afterwards: a second call
/// returns [`SpawnError::Wait`] with ECHILD, and [`send_signal`] returns
/// [`SpawnError::SignalGone`].
pub fn try_wait(pidfd: BorrowedFd<'_>) -> Result<Option<Exit>, SpawnError> {
    waitid_retry(pidfd, WaitIdOptions::EXITED | WaitIdOptions::NOHANG)?
        .map(|status| exit_of(&status))
        .transpose()
}

/// Blocks until the process exits, then reaps it.
pub fn wait(pidfd: BorrowedFd<'_>) -> Result<Exit, SpawnError> {
    match waitid_retry(pidfd, WaitIdOptions::EXITED)? {
        Some(status) => exit_of(&status),
        // Without WNOHANG the kernel only returns once it has a status.
        None => Err(SpawnError::Wait {
            source: io::Error::other("waitid returned no status"),
        }),
    }
}

/// `waitid` that retries on EINTR (ned blocks its signals, but a library
/// user may not).
fn waitid_retry(
    pidfd: BorrowedFd<'_>,
    options: WaitIdOptions,
) -> Result<Option<WaitIdStatus>, SpawnError> {
    loop {
        match waitid(WaitId::PidFd(pidfd), options) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(SpawnError::Wait { source: e.into() }),
            Ok(status) => return Ok(status),
        }
    }
}

fn exit_of(status: &WaitIdStatus) -> Result<Exit, SpawnError> {
    if let Some(code) = status.exit_status() {
        // si_status holds the low 8 bits of the exit code for CLD_EXITED.
        return Ok(Exit::Code(code as u8));
    }
    if let Some(sig) = status.terminating_signal() {
        return Ok(Exit::Signal(sig));
    }
    // We only ask for WEXITED, so stopped/continued cannot show up.
    Err(SpawnError::Wait {
        source: io::Error::other("waitid reported neither an exit nor a kill"),
    })
}

/// Sends `sig` to the process (`sig == 0` only checks that it still exists).
///
/// A process that has exited but is not yet reaped (a zombie) accepts the
/// signal and ignores it, so this returns `Ok(())`. Once it has been reaped
/// (by [`try_wait`]/[`wait`]) the result is [`SpawnError::SignalGone`] — a
/// distinct variant so that "kill it if it is still there" can be written as
/// `matches!(r, Ok(()) | Err(SpawnError::SignalGone { .. }))`.
pub fn send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), SpawnError> {
    // rustix's safe `Signal` constructor does not cover realtime signals, so
    // this one call goes through libc.
    // SAFETY: pidfd_send_signal(int pidfd, int sig, siginfo_t *info,
    // unsigned flags): `pidfd` is an open fd for the duration of the call
    // (BorrowedFd), `info` is NULL (the kernel fills in a SI_USER siginfo) and
    // `flags` is 0. The kernel validates `sig` and returns EINVAL for a bad one;
    // no memory is passed in or out.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Err(SpawnError::SignalGone { sig })
    } else {
        Err(SpawnError::Signal { sig, source: err })
    }
}
