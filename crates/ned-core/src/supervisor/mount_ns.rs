//! A sandboxed task's mount namespace, released off the loop.
//!
//! When the last reference to a mount namespace goes, the kernel unmounts
//! its copy of every mount and waits for an RCU grace period
//! (`namespace_unlock` → `synchronize_rcu_expedited`) before the dropping
//! task goes on. For a task with `mount`, that last reference is the
//! task's own, dropped in its exit before the kernel reports the exit:
//! every start-and-reap of such a task waited for a grace period (about
//! 0.13 ms at load 3 on 2 CPUs, milliseconds under more load; bwrap's
//! tasks too).
//!
//! So ned takes a reference of its own to the namespace as soon as the
//! task runs (`/proc/<pid>/ns/mnt`), which makes the task's exit a mere
//! reference drop, and hands it, once the task is reaped, to one thread
//! that closes such fds as they come. The namespace, its mounts and their
//! unmounting are the same; only who waits for the grace period changes.
//! Where `/proc` is not mounted ned keeps no reference and the task's exit
//! waits as before.

use std::os::fd::OwnedFd;
use std::sync::mpsc::{Sender, channel};

use rustix::fs::{Mode, OFlags};

/// The thread that closes released namespaces, started at the first one.
#[derive(Debug, Default)]
pub(crate) struct Releaser {
    queue: Option<Sender<OwnedFd>>,
}

impl Releaser {
    /// A reference to the mount namespace of the process `pid`, which ned
    /// has not reaped (so `pid` is that process); `None` without `/proc`
    /// or once the process has exited (its namespace is gone by then).
    /// The first one also starts the thread, while the task runs rather
    /// than when ned reaps it.
    pub(crate) fn hold(&mut self, pid: i32) -> Option<OwnedFd> {
        let ns = rustix::fs::open(
            format!("/proc/{pid}/ns/mnt"),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        if self.queue.is_none() {
            let (tx, rx) = channel::<OwnedFd>();
            let started = ned_spawn::spawn_thread_without_signals("ned-mount-ns", move || {
                rx.into_iter().for_each(drop);
            });
            if started.is_ok() {
                self.queue = Some(tx);
            }
        }
        Some(ns)
    }

    /// Drops `ns` on the releasing thread; here if that thread could not
    /// be started (then this waits for the grace period itself).
    pub(crate) fn release(&self, ns: OwnedFd) {
        match &self.queue {
            Some(tx) => {
                if let Err(back) = tx.send(ns) {
                    drop(back.0);
                }
            }
            None => drop(ns),
        }
    }
}
