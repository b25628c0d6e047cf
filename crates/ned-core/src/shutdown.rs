//! The one shutdown flag of a ned process.
//!
//! Every place that must give control back when ned is asked to stop reads
//! this flag: the reactor, `wait()`, the main state's count hook and
//! Lunatik's interrupt. The flag is set once and never cleared, so a script
//! that swallows the resulting error with `pcall` is interrupted again at
//! the next check. Signals are read from one signalfd by whoever checks
//! first (any thread); a request made on another thread wakes the reactor
//! through an eventfd.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use ned_spawn::SignalFd;

/// Why ned is shutting down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A shutdown signal (see [`SHUTDOWN_SIGNALS`]).
    Signal(i32),
    /// `os.exit(status)` in the script.
    Exit(u8),
    /// The exit option says the work is done (`--exit`, `--wait-and-exit`).
    Done,
}

impl Reason {
    fn encode(self) -> u64 {
        match self {
            Reason::Signal(s) => 1 << 32 | s as u32 as u64,
            Reason::Exit(c) => 2 << 32 | c as u64,
            Reason::Done => 3 << 32,
        }
    }

    fn decode(v: u64) -> Option<Reason> {
        match v >> 32 {
            1 => Some(Reason::Signal(v as u32 as i32)),
            2 => Some(Reason::Exit(v as u8)),
            3 => Some(Reason::Done),
            _ => None,
        }
    }
}

/// Signals that shut ned down in order: tasks get SIGTERM, a grace period,
/// then SIGKILL; exit handlers run; ned exits.
pub const SHUTDOWN_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT];

/// The signals ned resets to SIG_DFL at start-up should its parent have
/// left them ignored: SIGCHLD (ignored, the kernel discards every task's
/// exit status) and the shutdown signals (ignored, they would never reach
/// the signalfd). The others ned watches are ignored anyway.
pub const INHERITED_RESET: [i32; 5] = [
    libc::SIGCHLD,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
];

/// Signals whose default action would end ned (and orphan its tasks) but
/// that mean nothing to it: they are read, reported once each on stderr and
/// otherwise ignored. Signals raised by a fault in ned itself (SIGSEGV from
/// a bad access, say) are forced by the kernel whatever the mask.
const IGNORED_SIGNALS: [i32; 16] = [
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGIO,
    libc::SIGPWR,
    libc::SIGSTKFLT,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGSEGV,
];

/// Every signal ned reads from its signalfd: the shutdown signals, the
/// ignored ones, and the real-time signals (whose default is to terminate).
pub fn watched_signals() -> Vec<i32> {
    let mut v: Vec<i32> = SHUTDOWN_SIGNALS.to_vec();
    v.extend_from_slice(&IGNORED_SIGNALS);
    v.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    v
}

/// The name of a signal for messages (`SIGUSR1`, `SIGRTMIN+3`).
pub fn signal_name(sig: i32) -> String {
    let known = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGCHLD, "SIGCHLD"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGIO, "SIGIO"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    if let Some((_, n)) = known.iter().find(|(s, _)| *s == sig) {
        return (*n).to_owned();
    }
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) {
        return match sig - libc::SIGRTMIN() {
            0 => "SIGRTMIN".to_owned(),
            n => format!("SIGRTMIN+{n}"),
        };
    }
    format!("signal {sig}")
}

/// The flag, the signalfd of the shutdown signals it is fed from, and one
/// for the signals ned reads only to ignore them. Two, so that a thread
/// that only looks ([`Shutdown::pending`]) sees a waiting SIGTERM but not a
/// waiting SIGUSR1.
pub struct Shutdown {
    reason: AtomicU64,
    signals: SignalFd,
    ignored: SignalFd,
    /// Bit per ignored signal already reported, so a storm of one signal
    /// prints one line.
    reported: AtomicU64,
    /// Bit per signal the script took ([`Shutdown::take`]).
    taken: AtomicU64,
    /// Bit per taken signal that arrived and was not yet queued.
    caught: AtomicU64,
}

/// The signals a script may take from ned ([`Shutdown::take`]): SIGHUP
/// (usually "reload"), the two user signals, and SIGTERM and SIGINT (to
/// shut down in its own order, e.g. `ned.supervise`'s `stop()`, then
/// `os.exit`). SIGQUIT and the others keep their meaning for ned.
pub const TAKEABLE_SIGNALS: [i32; 5] = [
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGTERM,
    libc::SIGINT,
];

fn bit(sig: i32) -> u64 {
    1u64 << (sig as u32 % 64)
}

impl Shutdown {
    /// Blocks [`watched_signals`] for the calling thread (call it before any
    /// thread starts, so every later thread inherits the mask).
    pub fn new() -> Result<Shutdown, crate::supervisor::SupervisorError> {
        use crate::supervisor::SupervisorError;
        let signals = SignalFd::new(&SHUTDOWN_SIGNALS).map_err(SupervisorError::Signals)?;
        let others: Vec<i32> = watched_signals()
            .into_iter()
            .filter(|s| !SHUTDOWN_SIGNALS.contains(s))
            .collect();
        let ignored = SignalFd::new(&others).map_err(SupervisorError::Signals)?;
        Ok(Shutdown {
            reason: AtomicU64::new(0),
            signals,
            ignored,
            reported: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            caught: AtomicU64::new(0),
        })
    }

    /// Takes `sig` (one of [`TAKEABLE_SIGNALS`]) for the script, or gives it
    /// back (`take == false`): a taken signal neither stops nor is
    /// reported as ignored, but is counted in [`Shutdown::take_caught`].
    /// A taken shutdown signal (SIGHUP, SIGTERM, SIGINT) moves between the
    /// two signalfds, so that a waiting one the script took does not
    /// interrupt Lunatik runtimes ([`Shutdown::pending`]).
    pub fn take(&self, sig: i32, take: bool) -> Result<(), crate::supervisor::SupervisorError> {
        use crate::supervisor::SupervisorError;
        debug_assert!(TAKEABLE_SIGNALS.contains(&sig));
        let taken = if take {
            self.taken.fetch_or(bit(sig), Ordering::SeqCst) | bit(sig)
        } else {
            self.taken.fetch_and(!bit(sig), Ordering::SeqCst) & !bit(sig)
        };
        let stops: Vec<i32> = SHUTDOWN_SIGNALS
            .into_iter()
            .filter(|&s| taken & bit(s) == 0)
            .collect();
        let others: Vec<i32> = watched_signals()
            .into_iter()
            .filter(|s| !stops.contains(s))
            .collect();
        // Ignored set first: a signal arriving in between is then in both
        // sets, never in neither.
        self.ignored
            .set_signals(&others)
            .and_then(|()| self.signals.set_signals(&stops))
            .map_err(SupervisorError::Signals)
    }

    /// The taken signals that arrived since the last call, lowest first;
    /// several of one kind count once, as the kernel merges them too.
    pub fn take_caught(&self) -> Vec<i32> {
        let caught = self.caught.swap(0, Ordering::SeqCst);
        (1..64).filter(|&s| caught & bit(s) != 0).collect()
    }

    /// Asks for shutdown; the first request wins. Main thread only (see
    /// the module doc): nothing wakes a reactor blocked on another thread.
    pub fn request(&self, reason: Reason) {
        let _ =
            self.reason
                .compare_exchange(0, reason.encode(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether shutdown was requested or a shutdown signal waits, without
    /// reading it: for threads other than ned's main one, which leave the
    /// signal to the main thread. Signals ned ignores do not count.
    pub fn pending(&self) -> bool {
        if self.requested().is_some_and(|r| r != Reason::Done) {
            return true;
        }
        let fd = self.signals.fd();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        matches!(
            rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())),
            Ok(n) if n > 0
        )
    }

    /// The reason, once shutdown was requested; reads pending signals first.
    pub fn check(&self) -> Option<Reason> {
        if let Some(r) = self.requested() {
            return Some(r);
        }
        self.drain();
        self.requested()
    }

    /// Reads every pending signal: ignored ones are reported, shutdown ones
    /// request shutdown (the first decides). The reactor calls it whenever
    /// a signalfd is readable, even after shutdown began: a signal left
    /// pending would keep it readable and the loop spinning.
    pub(crate) fn drain(&self) {
        while let Ok(Some(sig)) = self.ignored.read() {
            if self.taken.load(Ordering::SeqCst) & bit(sig) != 0 {
                self.caught.fetch_or(bit(sig), Ordering::SeqCst);
            } else {
                self.report_ignored(sig);
            }
        }
        while let Ok(Some(sig)) = self.signals.read() {
            if self.taken.load(Ordering::SeqCst) & bit(sig) != 0 {
                // Arrived while `take` moved it between the fds.
                self.caught.fetch_or(bit(sig), Ordering::SeqCst);
            } else {
                self.request(Reason::Signal(sig));
            }
        }
    }

    /// The reason, without reading signals.
    pub fn requested(&self) -> Option<Reason> {
        Reason::decode(self.reason.load(Ordering::SeqCst))
    }

    /// The status `os.exit` asked for, if it did.
    pub fn exit_status(&self) -> Option<u8> {
        match self.requested() {
            Some(Reason::Exit(c)) => Some(c),
            _ => None,
        }
    }

    fn report_ignored(&self, sig: i32) {
        let bit = 1u64 << (sig as u32 % 64);
        if self.reported.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            crate::diag!(
                "ned: ignoring {} (only SIGTERM, SIGINT, SIGHUP and SIGQUIT stop ned)",
                signal_name(sig)
            );
        }
    }

    /// The descriptors the reactor watches.
    pub(crate) fn fds(&self) -> [BorrowedFd<'_>; 2] {
        [self.signals.fd(), self.ignored.fd()]
    }
}
