//! Live-object counters: how many runtimes, Lua states and shareable objects
//! exist right now. Tests use them to prove that failures and `stop()` leak
//! nothing; ned can show them in its status output.

use std::sync::atomic::{AtomicUsize, Ordering};

/// What a [`Live`] guard counts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Runtime = 0,
    State,
    Rcu,
    Data,
    Fifo,
    Completion,
    Thread,
    Set,
    Socket,
}

const KINDS: usize = 9;

static COUNTS: [AtomicUsize; KINDS] = [const { AtomicUsize::new(0) }; KINDS];

/// A snapshot of the live-object counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Runtime objects (open or stopped) that some handle still refers to.
    pub runtimes: usize,
    /// Open runtime Lua states (a stopped or collected runtime has none).
    pub states: usize,
    /// RCU tables, including the process-wide `lunatik._ENV`.
    pub rcu_tables: usize,
    /// `data` buffers.
    pub data: usize,
    /// `fifo`s.
    pub fifos: usize,
    /// `completion`s.
    pub completions: usize,
    /// `thread` objects.
    pub threads: usize,
    /// `set`s, plain and labeled.
    pub sets: usize,
    /// `socket`s.
    pub sockets: usize,
}

/// Reads the counters.
pub fn stats() -> Stats {
    let get = |k: Kind| COUNTS[k as usize].load(Ordering::SeqCst);
    Stats {
        runtimes: get(Kind::Runtime),
        states: get(Kind::State),
        rcu_tables: get(Kind::Rcu),
        data: get(Kind::Data),
        fifos: get(Kind::Fifo),
        completions: get(Kind::Completion),
        threads: get(Kind::Thread),
        sets: get(Kind::Set),
        sockets: get(Kind::Socket),
    }
}

/// Counts one live object of `kind` for as long as it exists.
#[derive(Debug)]
pub(crate) struct Live(Kind);

impl Live {
    pub(crate) fn new(kind: Kind) -> Self {
        COUNTS[kind as usize].fetch_add(1, Ordering::SeqCst);
        Live(kind)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        COUNTS[self.0 as usize].fetch_sub(1, Ordering::SeqCst);
    }
}
