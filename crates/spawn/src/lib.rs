//! How ned starts, waits for and signals processes — the only crate in ned
//! with process-level `unsafe`.
//!
//! * [`Spawner::spawn`] starts a [`Command`] with `clone(CLONE_VM | CLONE_FILES |
//!   CLONE_VFORK | CLONE_PIDFD)` on a reusable child stack: the child gets
//!   exactly the stdio and caps it is given (fds 0, 1, 2 and 3..), exactly the
//!   given environment (plus, on request, `LISTEN_PID=<its own pid>`, which
//!   `posix_spawn` cannot provide), default signal dispositions and an empty
//!   signal mask; on request it joins cgroups ([`Command::cgroup_procs`])
//!   and gets resource limits ([`Command::rlimits`]) before exec. Why
//!   clone rather than fork or posix_spawn: see `docs/spawn.md` and the module docs of `spawn.rs`.
//! * [`try_wait`], [`wait`] and [`send_signal`] work on the pidfd in
//!   [`Child`], so a pid is never reused under ned's feet.
//!   [`signal_group`] signals a task's process group (each task leads one,
//!   [`Command::new_group`]); [`open_pidfd`] pins any process for
//!   signalling; [`reap_orphans`] reaps exited children that are not tasks
//!   (PID 1, subreaper) without taking a task's exit.
//! * [`take_listen_fds`] adopts the caps ned itself was started with, as
//!   [`parse_listen`] reads the `LISTEN_*` variables (fuzzed: docs/fuzzing.md).
//! * [`SignalFd`] blocks signals and reads them from a signalfd, for the
//!   event loop; [`set_child_subreaper`] is for running as (or like) PID 1;
//!   [`reset_inherited_signals`] undoes the SIG_IGN ned was started with;
//!   [`spawn_thread_without_signals`] starts helper threads that never take
//!   a signal meant for the loop.
//!
//! Everything unsafe lives in `spawn.rs` (clone and the child) and a few
//! documented calls in `process.rs`/`signal.rs`; the public API is safe.

mod error;
mod inherit;
mod process;
mod rlimit;
mod signal;
mod spawn;
mod window;

pub use error::SpawnError;
pub use inherit::{MAX_FDS, parse_listen, take_listen_fds};
pub use process::{
    Exit, has_children, open_pidfd, reap_orphans, send_signal, signal_group, try_wait, wait,
};
pub use rlimit::{Resource, Rlimit, UNLIMITED};
pub use signal::{
    SignalFd, prepare_process, reset_inherited_signals, set_child_subreaper,
    spawn_thread_without_signals,
};
pub use spawn::{Child, Command, Isolation, Spawner};
