//! Timers: one `timerfd` in the reactor ([`crate::reactor::Token::Timer`])
//! armed for the earliest of many deadlines.
//!
//! Two kinds share it: the script's timers (`L4.timer`, `L4.every`), which
//! become [`crate::supervisor::Event::Timer`] and run as the serve loop
//! dispatches events, and the watchdogs of tasks started with
//! `watchdog = ms` (see [`crate::notify`]). Nothing polls: with no deadline
//! the timerfd is disarmed and costs nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, timerfd_create, timerfd_settime,
};

use crate::supervisor::TaskId;

/// A script timer's identity; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    /// A script timer.
    Script(TimerId),
    /// A task's watchdog: check whether it pinged in time.
    Watchdog(TaskId),
}

/// The deadlines and the one timerfd armed for the first of them.
pub struct Timers {
    fd: OwnedFd,
    /// Deadlines in order; the sequence number keeps equal instants apart.
    queue: BTreeMap<(Instant, u64), Due>,
    /// Where each script timer sits in `queue`, and its period.
    script: HashMap<TimerId, ((Instant, u64), Option<Duration>)>,
    /// Script timers whose event is queued but not yet dispatched: a
    /// periodic timer that fires again meanwhile queues nothing more, so a
    /// script busy in `wait()` finds one event, not a backlog.
    pending: HashSet<TimerId>,
    /// The deadline the timerfd is armed for, if any.
    armed: Option<Instant>,
    seq: u64,
    next: u64,
}

impl Timers {
    pub fn new() -> io::Result<Timers> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )?;
        Ok(Timers {
            fd,
            queue: BTreeMap::new(),
            script: HashMap::new(),
            pending: HashSet::new(),
            armed: None,
            seq: 0,
            next: 0,
        })
    }

    /// The timerfd, for the reactor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A script timer firing after `after`, then every `period` if given.
    pub fn add(&mut self, after: Duration, period: Option<Duration>) -> io::Result<TimerId> {
        let id = TimerId(self.next);
        self.next += 1;
        let key = self.insert(Instant::now() + after, Due::Script(id));
        self.script.insert(id, (key, period));
        self.rearm()?;
        Ok(id)
    }

    /// Cancels a script timer; false if it is gone (fired once, or
    /// cancelled already).
    pub fn cancel(&mut self, id: TimerId) -> bool {
        self.pending.remove(&id);
        match self.script.remove(&id) {
            Some((key, _)) => {
                self.queue.remove(&key);
                // Disarming early is an optimisation only: a stale expiry
                // finds nothing due and rearms.
                let _ = self.rearm();
                true
            }
            None => false,
        }
    }

    /// Whether a script timer still exists.
    pub fn exists(&self, id: TimerId) -> bool {
        self.script.contains_key(&id)
    }

    /// Script timers that will fire once and have not yet run: what
    /// `--wait-and-exit` still waits for (a periodic one never ends).
    pub fn one_shots(&self) -> usize {
        self.script.values().filter(|(_, p)| p.is_none()).count()
    }

    /// Schedules a watchdog check of `task` at `at`.
    pub fn watchdog(&mut self, task: TaskId, at: Instant) -> io::Result<()> {
        self.insert(at, Due::Watchdog(task));
        self.rearm()
    }

    /// The script's timer event was dispatched: it may queue again.
    pub fn delivered(&mut self, id: TimerId) {
        self.pending.remove(&id);
        if self.script.get(&id).is_some_and(|(_, p)| p.is_none()) {
            // A one-shot timer whose event ran is gone.
            self.script.remove(&id);
        }
    }

    /// The timerfd expired: what is due now, in deadline order. A script
    /// timer whose last event is still queued is left out (see `pending`);
    /// a periodic one is scheduled again one period after its deadline, or
    /// from now if it fell more than a period behind, so a late loop does
    /// not catch up in a burst.
    pub fn expire(&mut self) -> Vec<Due> {
        let mut buf = [0u8; 8];
        // Reading resets the expiry count; EAGAIN (a stale wake-up) is fine.
        let _ = rustix::io::read(&self.fd, &mut buf);
        self.armed = None;
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, _), what) = entry.remove_entry();
            if let Due::Script(id) = what {
                let Some(&(_, period)) = self.script.get(&id) else {
                    continue;
                };
                match period {
                    Some(p) => {
                        let next = (at + p).max(now);
                        let key = self.insert(next, what);
                        self.script.insert(id, (key, Some(p)));
                    }
                    None => {
                        // Stays in `script` until delivered, so `exists`
                        // holds while its event waits.
                        self.script.insert(id, ((at, u64::MAX), None));
                    }
                }
                if !self.pending.insert(id) {
                    continue;
                }
            }
            due.push(what);
        }
        if let Err(e) = self.rearm() {
            crate::diag!("ned: failed to arm the timer: {e}");
        }
        due
    }

    fn insert(&mut self, at: Instant, what: Due) -> (Instant, u64) {
        let key = (at, self.seq);
        self.seq += 1;
        self.queue.insert(key, what);
        key
    }

    /// Arms the timerfd for the first deadline (disarms it when none).
    fn rearm(&mut self) -> io::Result<()> {
        let first = self.queue.keys().next().map(|k| k.0);
        if first == self.armed {
            return Ok(());
        }
        let value = match first {
            // A zero value disarms, so a deadline already due is 1 ns away.
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        let spec = Itimerspec {
            it_interval: timespec(Duration::ZERO),
            it_value: timespec(value),
        };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        self.armed = first;
        Ok(())
    }
}

fn timespec(d: Duration) -> rustix::time::Timespec {
    rustix::time::Timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: d.subsec_nanos() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_readable(t: &Timers) {
        let mut fds = [rustix::event::PollFd::new(
            &t.fd,
            rustix::event::PollFlags::IN,
        )];
        let ts = timespec(Duration::from_secs(5));
        rustix::event::poll(&mut fds, Some(&ts)).unwrap();
    }

    #[test]
    fn timers_fire_in_order_once_and_cancelled_ones_never() {
        let mut t = Timers::new().unwrap();
        let b = t.add(Duration::from_millis(20), None).unwrap();
        let a = t.add(Duration::from_millis(1), None).unwrap();
        let c = t.add(Duration::from_millis(2), None).unwrap();
        assert!(t.cancel(c));
        assert!(!t.cancel(c));
        let mut seen = Vec::new();
        while seen.len() < 2 {
            wait_readable(&t);
            for d in t.expire() {
                let Due::Script(id) = d else { panic!("{d:?}") };
                t.delivered(id);
                seen.push(id);
            }
        }
        assert_eq!(seen, vec![a, b]);
        assert!(!t.exists(a) && !t.exists(b));
        assert_eq!(t.armed, None, "nothing left to arm for");
    }

    #[test]
    fn a_periodic_timer_queues_one_event_until_delivered() {
        let mut t = Timers::new().unwrap();
        let p = t
            .add(Duration::ZERO, Some(Duration::from_millis(1)))
            .unwrap();
        wait_readable(&t);
        assert_eq!(t.expire(), vec![Due::Script(p)]);
        std::thread::sleep(Duration::from_millis(5));
        wait_readable(&t);
        assert_eq!(t.expire(), vec![], "undelivered: no second event");
        t.delivered(p);
        assert!(t.exists(p));
        wait_readable(&t);
        assert_eq!(t.expire(), vec![Due::Script(p)]);
        assert!(t.cancel(p));
        assert!(t.queue.is_empty());
    }
}
