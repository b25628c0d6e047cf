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

/// Sends `sig` to every process of the process group `pgid` (`kill(-pgid,
/// sig)`). A group with no member left gives [`SpawnError::SignalGone`].
///
/// A group id is the pid of the process that made the group, and Linux
/// keeps that number allocated while any member is alive, so the id cannot
/// name a stranger's group as long as the group exists.
pub fn signal_group(pgid: i32, sig: i32) -> Result<(), SpawnError> {
    if pgid <= 1 {
        // kill(0) and kill(-1) mean "my group" and "everyone": never that.
        return Err(SpawnError::SignalGone { sig });
    }
    // SAFETY: kill(pid_t, int) takes plain values and touches no memory;
    // `-pgid` is negative (pgid > 1), so it names exactly one group.
    let ret = unsafe { libc::kill(-pgid, sig) };
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

/// A pidfd for `pid`, which need not be a child: the fd names that one
/// process from now on, whatever happens to the number. `None` when no
/// such process exists (any more).
pub fn open_pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// Whether this process has any child at all, running or exited and not
/// yet reaped, whichever of its threads started it: `waitid(P_ALL)` with
/// `WNOHANG | WNOWAIT` answers ECHILD only when there is none, and takes
/// nothing. `__WALL` counts children that signal no SIGCHLD as well.
pub fn has_children() -> bool {
    let options = WaitIdOptions::EXITED
        | WaitIdOptions::NOHANG
        | WaitIdOptions::NOWAIT
        | WaitIdOptions::from_bits_retain(libc::__WALL as u32);
    !matches!(waitid(WaitId::All, options), Err(rustix::io::Errno::CHILD))
}

/// Reaps every exited child that `is_task` does not claim, for a
/// subreaper or PID 1, where orphans of other processes become ned's
/// children; returns how many were reaped.
///
/// Race-free with the pidfd reaping of tasks: `waitid(P_ALL, WEXITED |
/// WNOHANG | WNOWAIT)` names the next exited child without reaping it, and
/// only a child that is not a task is then reaped, by its pid (still
/// reserved for it: it is an unreaped zombie, and only ned reaps its
/// children). At the first exited child that is a task the pass stops: the
/// kernel would name it again, and its own pidfd is readable, so the loop
/// collects it and calls this again.
pub fn reap_orphans(mut is_task: impl FnMut(i32) -> bool) -> usize {
    let mut reaped = 0;
    loop {
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `info` is writable storage for one siginfo_t, which
        // waitid fills in; zeroed first, so si_pid reads 0 when WNOHANG
        // finds no exited child (waitid(2)).
        let rc = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                info.as_mut_ptr(),
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if rc != 0 {
            // ECHILD: no child at all; EINTR: the next SIGCHLD retries.
            return reaped;
        }
        // SAFETY: zero-initialised above and possibly filled by waitid;
        // every bit pattern is a valid siginfo_t, and si_pid is the field
        // waitid sets for CLD_* codes.
        let pid = unsafe { info.assume_init().si_pid() };
        if pid <= 0 || is_task(pid) {
            return reaped;
        }
        let mut done = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: as above; P_PID names the orphan just reported, which
        // nobody but this thread reaps.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                done.as_mut_ptr(),
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if rc != 0 {
            return reaped;
        }
        reaped += 1;
    }
}
