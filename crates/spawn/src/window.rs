//! The fd window: a few low fd numbers the [`crate::Spawner`] holds from
//! its start, through which a child receives the fds it keeps, so that the
//! child's copy of the fd table is small however many fds ned has open.
//!
//! Without it, `clone` copies ned's whole fd table into every child and
//! `execve` then closes almost all of it again (every close-on-exec fd):
//! with thousands of tasks alive (a pidfd and log pipes each) that copy
//! costs more than the rest of the start. With the window the child is
//! cloned sharing ned's table (`CLONE_FILES`) and its first fd operation is
//! `close_range(end, ~0, CLOSE_RANGE_UNSHARE)`: the kernel then copies only
//! the fds below `end`, the window's end (Linux 5.9, the same release as
//! the `close_range` the child already needs).
//!
//! The window is taken at the first spawn, so a ned that starts nothing
//! does not pay for it. From then on every slot holds a duplicate of one
//! close-on-exec eventfd (the filler) while no spawn runs, so the numbers
//! stay taken: new fds of ned (and of its threads) land above the window.
//! For a spawn, each source fd at or above `end` is duplicated onto a free
//! slot with `dup3`, and the plan entry points at the slot instead; after
//! the spawn every used slot gets the filler back, so ned holds no extra
//! reference to a task's fds (a pipe whose write end only a task holds
//! still sees EOF when the task exits).

use std::ffi::c_int;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::io::DupFlags;

/// How many fds one child can receive through the window: stdio, caps and
/// a Landlock ruleset. A plan with more sources above the window is started
/// the old way, copying the whole table.
pub(crate) const SLOTS: usize = 32;

#[derive(Debug)]
pub(crate) struct FdWindow {
    filler: OwnedFd,
    slots: Vec<OwnedFd>,
    /// One past the highest slot: the child keeps the fds below it.
    end: c_int,
    /// Slots holding a source of the current spawn, until [`Self::release`].
    used: usize,
}

impl FdWindow {
    /// Takes [`SLOTS`] fd numbers, the lowest free ones (a Spawner's first
    /// spawn takes them: in ned, while few fds are open). `None` when they
    /// cannot be had (fd limit, no eventfd): spawns then copy the whole
    /// table.
    pub(crate) fn new() -> Option<Self> {
        let filler = rustix::event::eventfd(0, rustix::event::EventfdFlags::CLOEXEC).ok()?;
        let slots = (0..SLOTS)
            .map(|_| rustix::io::fcntl_dupfd_cloexec(&filler, 0).ok())
            .collect::<Option<Vec<_>>>()?;
        let end = slots.iter().map(AsRawFd::as_raw_fd).max()? + 1;
        Some(Self {
            filler,
            slots,
            end,
            used: 0,
        })
    }

    /// Fills `plan` with the fd each of `sources` has in the child's
    /// table before the fd plan runs: its own number when below the
    /// window's end, else a slot now holding the same file. Returns the end
    /// (the child may unshare its table keeping only the fds below it), or
    /// `None` with `plan` empty and every slot free again when there are
    /// more sources above the window than slots, or a `dup3` failed.
    pub(crate) fn lend<'a>(
        &mut self,
        sources: impl Iterator<Item = BorrowedFd<'a>> + Clone,
        plan: &mut Vec<c_int>,
    ) -> Option<c_int> {
        debug_assert_eq!(self.used, 0, "release was not called after a spawn");
        plan.clear();
        let high = sources.clone().filter(|fd| fd.as_raw_fd() >= self.end);
        if high.count() > self.slots.len() {
            return None;
        }
        for fd in sources {
            if fd.as_raw_fd() < self.end {
                plan.push(fd.as_raw_fd());
                continue;
            }
            let lent = match self.slots.get_mut(self.used) {
                Some(slot) => {
                    rustix::io::dup3(fd, slot, DupFlags::CLOEXEC).map(|()| slot.as_raw_fd())
                }
                None => Err(rustix::io::Errno::MFILE),
            };
            match lent {
                Ok(raw) => {
                    self.used += 1;
                    plan.push(raw);
                }
                Err(_) => {
                    self.release();
                    plan.clear();
                    return None;
                }
            }
        }
        Some(self.end)
    }

    /// Puts the filler back into every slot [`Self::lend`] used. A slot
    /// that cannot be refilled is closed and leaves the window, so no
    /// reference to a task's fd stays behind.
    pub(crate) fn release(&mut self) {
        for i in (0..std::mem::take(&mut self.used)).rev() {
            let refilled = self.slots.get_mut(i).is_some_and(|slot| {
                rustix::io::dup3(&self.filler, slot, DupFlags::CLOEXEC).is_ok()
            });
            if !refilled && i < self.slots.len() {
                drop(self.slots.remove(i));
            }
        }
    }
}
