//! Whole process trees: signalling a task with everything it started,
//! reaping orphans as PID 1 or subreaper, taken signals and
//! `--exit-code-from` — the parts of the supervisor that reach past a
//! task's own pid.
//!
//! A task's tree is its process, its process group (every task not on
//! ned's console leads one) and its descendants as `/proc` shows them
//! ([`crate::tree`]), which catches children that left the group with
//! `setsid` or `setpgid`. ned's whole tree at shutdown is every task's group
//! and every descendant of ned itself: as PID 1 or subreaper, orphans of
//! tasks that daemonised are ned's children, so nothing escapes; without,
//! a grandchild whose parent already died belongs to the system's init.

use std::os::fd::{AsFd, OwnedFd};

use super::{Event, Reason, Supervisor, SupervisorError, Task, TaskId};
use crate::task::Ended;
use crate::tree;

/// A signal that reached a process which is gone (or a group with no
/// member) is no error when ending a tree.
fn gone_is_fine(r: Result<(), ned_spawn::SpawnError>) -> Result<(), ned_spawn::SpawnError> {
    match r {
        Err(ned_spawn::SpawnError::SignalGone { .. }) => Ok(()),
        other => other,
    }
}

impl Supervisor {
    /// Makes ned reap every orphan that lands on it: as PID 1 they all do;
    /// with `subreaper`, the orphans of ned's own descendants do too
    /// (`PR_SET_CHILD_SUBREAPER`). SIGCHLD is then read from a signalfd in
    /// the loop. Call before any thread starts (the signal is blocked for
    /// the calling thread and those it starts later).
    pub fn enable_reaping(&mut self, subreaper: bool) -> Result<(), SupervisorError> {
        if subreaper {
            ned_spawn::set_child_subreaper().map_err(SupervisorError::Signals)?;
        }
        let fd = ned_spawn::SignalFd::new(&[libc::SIGCHLD]).map_err(SupervisorError::Signals)?;
        self.reactor
            .add(fd.fd(), super::Token::Child)
            .map_err(SupervisorError::Setup)?;
        self.reaper = Some(fd);
        self.reap_orphans();
        Ok(())
    }

    /// Reads the SIGCHLDs; [`Supervisor::turn`] reaps after every turn.
    pub(super) fn drain_sigchld(&mut self) {
        if let Some(fd) = &self.reaper {
            while let Ok(Some(_)) = fd.read() {}
        }
    }

    /// Reaps the exited children that are not tasks (see
    /// [`ned_spawn::reap_orphans`] for why a task's exit is never taken).
    pub(super) fn reap_orphans(&mut self) {
        if self.reaper.is_none() {
            return;
        }
        let tasks = &self.tasks;
        ned_spawn::reap_orphans(|pid| tasks.values().any(|t| t.pid == pid && t.pidfd.is_some()));
    }

    /// Queues the signals the script took that arrived; whether any did.
    pub(super) fn queue_taken_signals(&mut self) -> bool {
        let caught = self.shutdown.take_caught();
        let any = !caught.is_empty();
        self.events.extend(caught.into_iter().map(Event::Signal));
        any
    }

    /// `--exit-code-from TAG`: when the task with this log tag ends, ned
    /// stops and exits with its status ([`Supervisor::exit_code_from`]).
    pub fn set_exit_code_from(&mut self, tag: String) {
        self.exit_from = Some((tag, None));
    }

    /// The status the `--exit-code-from` task decided: its exit code, or
    /// 128 + the signal that killed it (1 when its end was lost); `None`
    /// while no such task ended.
    pub fn exit_code_from(&self) -> Option<u8> {
        match self.exit_from.as_ref()?.1? {
            Ended::Code(c) => Some(c),
            Ended::Signal(s) => Some(128u8.wrapping_add(s as u8)),
            Ended::Lost => Some(1),
        }
    }

    /// Records the first end of the `--exit-code-from` task and stops ned.
    pub(super) fn note_exit_from(&mut self, id: TaskId, ended: Ended) {
        let tag = self.tasks.get(&id.0).map(|t| t.tag.as_str());
        let Some((want, seen @ None)) = &mut self.exit_from else {
            return;
        };
        if tag != Some(want.as_str()) {
            return;
        }
        *seen = Some(ended);
        if let Some(status) = self.exit_code_from() {
            self.shutdown.request(Reason::Exit(status));
        }
    }

    /// Sends `sig` to task `id`'s whole tree: its process, its process
    /// group and its descendants (see the module doc). A task already gone
    /// is no error; once it is reaped only its group, if any member is
    /// left, still gets the signal.
    pub fn kill_tree(&self, id: TaskId, sig: i32) -> Result<(), SupervisorError> {
        let Some(task) = self.tasks.get(&id.0) else {
            return Ok(());
        };
        let err = |source| SupervisorError::Signal {
            pid: task.pid,
            source,
        };
        // Descendants first, while the task is alive to show them as its
        // own: once it dies of `sig`, they belong to another parent.
        if task.pidfd.is_some() {
            // The pid is still this task's (unreaped), so are its children.
            tree::signal_descendants(&[task.pid], sig, |d| task.group && d.pgrp == task.pid);
        }
        if let Some(pidfd) = &task.pidfd {
            let sig = deliverable(task, sig);
            gone_is_fine(ned_spawn::send_signal(pidfd.as_fd(), sig)).map_err(err)?;
        }
        if task.group {
            gone_is_fine(ned_spawn::signal_group(task.pid, sig)).map_err(err)?;
        }
        Ok(())
    }

    /// Sends `sig` to every live task's tree and to every other descendant
    /// of ned, each process once; adds the pidfds of the descendants
    /// signalled to `outside`, so the next round reaches them even after
    /// they left ned's tree (their parent died and ned is no subreaper).
    pub(super) fn kill_all(&self, sig: i32, outside: &mut Vec<OwnedFd>) {
        outside.retain(|fd| !tree::has_exited(fd));
        for fd in outside.iter() {
            let _ = ned_spawn::send_signal(fd.as_fd(), sig);
        }
        // The scan first, while every parent is still alive to show it.
        let pids: Vec<i32> = self
            .tasks
            .values()
            .filter(|t| t.pidfd.is_some())
            .map(|t| t.pid)
            .collect();
        let groups: Vec<i32> = self
            .tasks
            .values()
            .filter(|t| t.group)
            .map(|t| t.pid)
            .collect();
        let me = rustix::process::getpid().as_raw_nonzero().get();
        outside.extend(tree::signal_descendants(&[me], sig, |d| {
            pids.contains(&d.pid) || groups.contains(&d.pgrp)
        }));
        for task in self.tasks.values() {
            if let Some(pidfd) = &task.pidfd {
                // A task that exited meanwhile is no error.
                let _ = ned_spawn::send_signal(pidfd.as_fd(), deliverable(task, sig));
            }
            if task.group {
                let _ = ned_spawn::signal_group(task.pid, sig);
            }
        }
    }

    /// Live descendants of ned that are not tasks.
    pub(super) fn strays(&self) -> usize {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        tree::descendants(&[me])
            .iter()
            .filter(|d| {
                !self
                    .tasks
                    .values()
                    .any(|t| t.pid == d.pid && t.pidfd.is_some())
            })
            .count()
    }

    /// No task alive, no other descendant of ned left, and every process
    /// in `outside` exited.
    pub(super) fn all_gone(&self, outside: &[OwnedFd]) -> bool {
        self.live() == 0 && self.strays() == 0 && outside.iter().all(tree::has_exited)
    }
}

/// The signal that does to `task` what `sig` does to any other process.
///
/// The kernel delivers a signal from outside to the PID 1 of a PID
/// namespace only if that process handles it: a sandboxed task with
/// `pid` that leaves SIGTERM at its default would ignore ned's stop and
/// linger until the grace period's SIGKILL. The default action of the
/// terminating signals ned stops tasks with is to end the process at
/// once, which is what SIGKILL does, so such a task gets SIGKILL now; a
/// task that handles (or ignores) `sig` gets `sig` itself.
fn deliverable(task: &Task, sig: i32) -> i32 {
    const ENDS: [i32; 7] = [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
    ];
    if !task.facts.ns_init || !ENDS.contains(&sig) {
        return sig;
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", task.pid)).unwrap_or_default();
    let bit = 1u64 << (sig - 1);
    let set = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .is_some_and(|mask| mask & bit != 0)
    };
    // No /proc (an early boot): the signal as asked, and the grace period.
    if status.is_empty() || set("SigCgt:") || set("SigIgn:") {
        sig
    } else {
        libc::SIGKILL
    }
}
