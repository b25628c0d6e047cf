//! Signals for the supervisor itself: a signalfd for the event loop, the
//! child-subreaper flag and undoing ignored signals ned inherited.
//!
//! The signal mask is per thread and inherited by threads created later, so
//! [`SignalFd::new`] must run on the main thread before any other thread
//! starts; then no thread has a handler-driven signal path at all and every
//! blocked signal waits in the signalfd until the loop reads it. Children do
//! not inherit the mask: [`crate::Spawner`] gives each child an empty one.
//! Helper threads that may start before that (ned's console writers) are
//! started by [`spawn_thread_without_signals`], so they never take a signal
//! meant for the loop either.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use crate::SpawnError;

/// A set of blocked signals, readable as a non-blocking, close-on-exec fd.
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Blocks `signals` for the calling thread (and every thread it creates
    /// afterwards) and returns a signalfd that reports them.
    ///
    /// The signals stay blocked when the `SignalFd` is dropped.
    pub fn new(signals: &[i32]) -> Result<Self, SpawnError> {
        let mask = sigset_of(signals).map_err(|source| SpawnError::BlockSignals { source })?;
        // SAFETY: `mask` is an initialised sigset_t that outlives the call;
        // the old-mask pointer is NULL, which pthread_sigmask allows.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(SpawnError::BlockSignals {
                source: io::Error::from_raw_os_error(rc),
            });
        }
        // SAFETY: fd -1 asks for a new signalfd; `mask` is initialised and
        // outlives the call; the flags are valid signalfd flags.
        let raw = unsafe { libc::signalfd(-1, &mask, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if raw < 0 {
            return Err(SpawnError::CreateSignalFd {
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: signalfd returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Self { fd })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next pending signal's number, or `None` when none is pending.
    pub fn read(&self) -> Result<Option<i32>, SpawnError> {
        // One `struct signalfd_siginfo` is 128 bytes; `ssi_signo` (u32) is
        // its first field (signalfd(2)).
        let mut buf = [0u8; 128];
        loop {
            match rustix::io::read(&self.fd, &mut buf[..]) {
                Ok(n) if n >= 4 => {
                    let signo = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    return Ok(Some(signo as i32));
                }
                Ok(n) => {
                    return Err(SpawnError::ReadSignalFd {
                        source: io::Error::other(format!("short read of {n} bytes")),
                    });
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(None),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(SpawnError::ReadSignalFd { source: e.into() }),
            }
        }
    }
}

/// Starts a thread with every signal blocked, whatever the caller's mask
/// is: a helper thread started before [`SignalFd::new`] (or by a thread
/// with other signals unblocked) would otherwise be where the kernel
/// delivers a process signal, whose default action could end ned before
/// its loop reads it. The caller's mask is restored before returning.
pub fn spawn_thread_without_signals<F>(name: &str, f: F) -> io::Result<std::thread::JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the whole sigset_t behind the pointer,
    // which points to writable storage of the right type.
    unsafe { libc::sigfillset(all.as_mut_ptr()) };
    // SAFETY: sigfillset above initialised it (it cannot fail for a valid
    // pointer).
    let all = unsafe { all.assume_init() };
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `all` is initialised and `old` is writable storage for a
    // sigset_t, which pthread_sigmask fills on success.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &all, old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: pthread_sigmask returned 0, so it wrote the previous mask.
    let old = unsafe { old.assume_init() };
    // The new thread inherits the full mask from this point on.
    let spawned = std::thread::Builder::new().name(name.to_owned()).spawn(f);
    // SAFETY: `old` is the initialised mask saved above; the old-mask
    // pointer is NULL, which pthread_sigmask allows.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    spawned
}

/// Builds a sigset_t holding exactly `signals`.
fn sigset_of(signals: &[i32]) -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the whole sigset_t behind the pointer,
    // which points to writable storage of the right type.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: sigemptyset above initialised it (it cannot fail for a valid
    // pointer).
    let mut set = unsafe { set.assume_init() };
    for &sig in signals {
        // SAFETY: `set` is an initialised sigset_t; sigaddset checks `sig`
        // and returns -1/EINVAL for an invalid number.
        if unsafe { libc::sigaddset(&mut set, sig) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(set)
}

/// Sets each of `signals` that this process inherited as ignored back to
/// SIG_DFL; call it first thing in `main`.
///
/// SIG_IGN survives `execve`, so whoever started ned decides what it
/// ignores unless ned undoes it. SIGCHLD matters most: while it is ignored
/// the kernel reaps exited children by itself, and waiting on a task's
/// pidfd fails with ECHILD instead of reporting its exit. An ignored signal
/// is also discarded before a signalfd could read it, so the signals ned
/// acts on must not stay ignored either. The caller names them: querying
/// all 64 costs a system call each, which a VM makes dear at every start.
/// Handlers are not touched: none survive an exec, so any present were
/// installed by this process. Tasks get every signal back as SIG_DFL when
/// they are spawned, whatever this process does.
pub fn reset_inherited_signals(signals: &[i32]) {
    for &sig in signals {
        let mut old = MaybeUninit::<libc::sigaction>::uninit();
        // SAFETY: the new-action pointer is NULL (query only) and `old`
        // points at writable storage for one sigaction, which the call fills
        // in on success. It fails with EINVAL for numbers glibc reserves.
        if unsafe { libc::sigaction(sig, ptr::null(), old.as_mut_ptr()) } != 0 {
            continue;
        }
        // SAFETY: sigaction returned 0, so it initialised `old`.
        if unsafe { old.assume_init() }.sa_sigaction != libc::SIG_IGN {
            continue;
        }
        // SAFETY: an all-zero sigaction is SIG_DFL with no flags and an
        // empty mask; it is a plain C struct for which zero is valid.
        let default: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `default` is initialised and outlives the call; the
        // old-action pointer is NULL. `sig` was just accepted by the query,
        // so this cannot fail (SIGKILL and SIGSTOP are never SIG_IGN).
        unsafe { libc::sigaction(sig, &default, ptr::null_mut()) };
    }
}

/// What std's runtime set-up does before `main` and ned still needs, for a
/// binary that enters at its own C `main` (`#![no_main]`, for start-up
/// time): fds 0, 1 and 2 that are closed get `/dev/null`, so that no file
/// ned opens later lands on a standard stream (a parent or a container
/// runtime may start it with them closed), and SIGPIPE is ignored, so a
/// write to a reader that went away fails with EPIPE instead of killing
/// ned. std's stack-overflow handler is not installed: an overflow is then
/// a plain SIGSEGV rather than a message and SIGABRT, the same death.
pub fn prepare_process() {
    let stdio = [
        rustix::stdio::stdin(),
        rustix::stdio::stdout(),
        rustix::stdio::stderr(),
    ];
    let mut fds = stdio
        .map(|fd| rustix::event::PollFd::from_borrowed_fd(fd, rustix::event::PollFlags::empty()));
    if rustix::event::poll(&mut fds, Some(&rustix::time::Timespec::default())).is_ok() {
        for fd in &fds {
            if fd.revents().contains(rustix::event::PollFlags::NVAL) {
                // The lowest free number is the closed one: /dev/null takes
                // it, and stays open for the life of the process.
                if let Ok(null) = rustix::fs::open(
                    "/dev/null",
                    rustix::fs::OFlags::RDWR,
                    rustix::fs::Mode::empty(),
                ) {
                    std::mem::forget(null);
                }
            }
        }
    }
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE and installs no
    // handler code; nothing else in this process sets SIGPIPE's action.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Makes the calling process a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER,
/// 1)`): orphaned descendants are re-parented to it instead of to PID 1, so
/// ned can reap the grandchildren of tasks that daemonise.
pub fn set_child_subreaper() -> Result<(), SpawnError> {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| SpawnError::SetSubreaper { source: e.into() })
}

impl SignalFd {
    /// Makes the fd report exactly `signals` from now on (`signalfd(2)` on
    /// the existing fd). The thread's blocked mask is not changed: every
    /// signal given here must already be blocked, or it never arrives.
    pub fn set_signals(&self, signals: &[i32]) -> Result<(), SpawnError> {
        let mask = sigset_of(signals).map_err(|source| SpawnError::BlockSignals { source })?;
        // SAFETY: `self.fd` is a signalfd we own, open for the call; `mask`
        // is an initialised sigset_t that outlives it; the flags are valid.
        let raw = unsafe {
            libc::signalfd(
                std::os::fd::AsRawFd::as_raw_fd(&self.fd),
                &mask,
                libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
            )
        };
        if raw < 0 {
            return Err(SpawnError::CreateSignalFd {
                source: io::Error::last_os_error(),
            });
        }
        Ok(())
    }
}
