//! Lua-free completion, with the Linux kernel's counting semantics: each
//! `complete()` lets one `wait()` through (now or later).

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The completion.
#[derive(Default)]
pub struct Completion {
    done: Mutex<u32>,
    cv: Condvar,
}

impl Completion {
    /// A fresh, not yet completed completion.
    pub fn new() -> Self {
        Self::default()
    }

    /// Releases one waiter (present or future).
    pub fn complete(&self) {
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        *d = d.saturating_add(1);
        self.cv.notify_one();
    }

    /// Waits for a `complete()`; `false` when `timeout` passed first.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        let mut d = self.done.lock().unwrap_or_else(|e| e.into_inner());
        while *d == 0 {
            d = match deadline {
                None | Some(None) => self.cv.wait(d).unwrap_or_else(|e| e.into_inner()),
                Some(Some(at)) => {
                    let now = Instant::now();
                    if now >= at {
                        return false;
                    }
                    self.cv
                        .wait_timeout(d, at - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        *d -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_and_times_out() {
        let c = Arc::new(Completion::new());
        assert!(!c.wait(Some(Duration::from_millis(5))));
        c.complete();
        assert!(c.wait(Some(Duration::ZERO)));
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.wait(None));
        c.complete();
        assert!(t.join().unwrap());
    }
}
