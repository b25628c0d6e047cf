//! A task's life as an explicit state machine (state × input → state,
//! output), kept free of I/O so every transition is unit-tested without a
//! process.
//!
//! ```text
//!             Exited(e) / Report(e)
//!  Running{held} ───────────────────▶ Zombie(e) ──Released──▶ Gone
//!      │  held=false: Exited(e) / nothing ──────────────────▶ Gone
//!      └─Released──▶ Running{held: false}
//! ```
//!
//! `held` says whether the script can still ask about the task. An exit is
//! reported (to run its exit handler) exactly once, and only while the
//! script holds the task; a task the script gave up goes away silently as
//! soon as its process is collected.

/// How a task's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Exited with this status.
    Code(u8),
    /// Killed by this signal.
    Signal(i32),
    /// The process is gone but its status could not be collected (for
    /// instance `waitid` failed with ECHILD because SIGCHLD was ignored when
    /// it exited): reported like an exit with neither code nor signal.
    Lost,
}

impl From<ned_spawn::Exit> for Ended {
    fn from(e: ned_spawn::Exit) -> Ended {
        match e {
            ned_spawn::Exit::Code(c) => Ended::Code(c),
            ned_spawn::Exit::Signal(s) => Ended::Signal(s),
        }
    }
}

/// What the script sees of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running {
        held: bool,
    },
    /// Exited and recorded by the loop, not yet reaped by the script.
    Zombie(Ended),
}

/// What happens to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The loop collected the process's end.
    Exited(Ended),
    /// The script is done with the task (`wait()` returned, `kill()`, or the
    /// task object was collected).
    Released,
}

/// What the supervisor must do after a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Nothing more.
    None,
    /// Queue the exit for the script's exit handler.
    Report(Ended),
}

/// One transition: the next state (`None`: the task is gone and its entry
/// is dropped) and what to do.
pub fn step(state: State, input: Input) -> (Option<State>, Output) {
    match (state, input) {
        (State::Running { held: true }, Input::Exited(e)) => {
            (Some(State::Zombie(e)), Output::Report(e))
        }
        (State::Running { held: false }, Input::Exited(_)) => (None, Output::None),
        (State::Running { .. }, Input::Released) => {
            (Some(State::Running { held: false }), Output::None)
        }
        (State::Zombie(_), Input::Released) => (None, Output::None),
        // A second exit of one process cannot happen (its pidfd leaves the
        // loop at the first); keep the first.
        (State::Zombie(e), Input::Exited(_)) => (Some(State::Zombie(e)), Output::None),
    }
}

impl State {
    /// Whether the process may still be alive.
    pub fn is_running(self) -> bool {
        matches!(self, State::Running { .. })
    }

    /// Whether the script still holds the task.
    pub fn is_held(self) -> bool {
        matches!(self, State::Running { held: true } | State::Zombie(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: Ended = Ended::Code(3);

    #[test]
    fn held_task_is_reported_once_then_released() {
        let (s, out) = step(State::Running { held: true }, Input::Exited(E));
        assert_eq!((s, out), (Some(State::Zombie(E)), Output::Report(E)));
        let (s2, out2) = step(s.unwrap(), Input::Exited(Ended::Code(9)));
        assert_eq!((s2, out2), (Some(State::Zombie(E)), Output::None));
        assert_eq!(step(s2.unwrap(), Input::Released), (None, Output::None));
    }

    #[test]
    fn released_running_task_goes_silently() {
        let (s, out) = step(State::Running { held: true }, Input::Released);
        assert_eq!(
            (s, out),
            (Some(State::Running { held: false }), Output::None)
        );
        assert_eq!(step(s.unwrap(), Input::Released), (s, Output::None));
        assert_eq!(step(s.unwrap(), Input::Exited(E)), (None, Output::None));
    }

    #[test]
    fn lost_exit_is_reported_like_any_other() {
        let (s, out) = step(State::Running { held: true }, Input::Exited(Ended::Lost));
        assert_eq!(out, Output::Report(Ended::Lost));
        assert_eq!(s, Some(State::Zombie(Ended::Lost)));
    }

    #[test]
    fn predicates() {
        assert!(State::Running { held: false }.is_running());
        assert!(!State::Running { held: false }.is_held());
        assert!(State::Zombie(E).is_held());
        assert!(!State::Zombie(E).is_running());
    }
}
