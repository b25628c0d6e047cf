//! The reactor: one epoll set and the typed tokens of everything it
//! watches. The supervisor owns one and turns its readiness into state
//! changes and one queue of events; `wait()`, `sleep`, shutdown and the
//! serve loop are all [`crate::supervisor::Supervisor::run_until`] with
//! different stop conditions.
//!
//! Adding a source kind (a control socket, a timer) is a [`Token`] variant:
//! its encoding is checked here, and an unknown token is reported and
//! ignored, never mistaken for another kind.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::epoll;

use crate::log::StreamId;
use crate::supervisor::TaskId;

/// What a readiness event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// A signalfd (shutdown signals, or those ned ignores).
    Shutdown,
    /// A task's pidfd: the process ended.
    Task(TaskId),
    /// A task's log pipe has data or was closed.
    Log(StreamId),
    /// The console has room again for throttled log pipes.
    LogSpace,
    /// A connection of ned's object service (docs/protocol.md).
    Object(u64),
    /// The connection of a `create` ned forwards to a channel's server.
    Forward,
}

const KIND_SHIFT: u32 = 56;
const ID_MASK: u64 = (1 << KIND_SHIFT) - 1;
const KIND_SHUTDOWN: u64 = 1;
const KIND_TASK: u64 = 2;
const KIND_LOG: u64 = 3;
const KIND_LOG_SPACE: u64 = 4;
const KIND_OBJECT: u64 = 5;
const KIND_FORWARD: u64 = 6;

impl Token {
    fn encode(self) -> u64 {
        let (kind, id) = match self {
            Token::Shutdown => (KIND_SHUTDOWN, 0),
            Token::Task(t) => (KIND_TASK, t.0),
            Token::Log(s) => (KIND_LOG, s.0 as u64),
            Token::LogSpace => (KIND_LOG_SPACE, 0),
            Token::Object(c) => (KIND_OBJECT, c),
            Token::Forward => (KIND_FORWARD, 0),
        };
        debug_assert!(id <= ID_MASK, "token id {id} does not fit");
        kind << KIND_SHIFT | (id & ID_MASK)
    }

    fn decode(v: u64) -> Option<Token> {
        let id = v & ID_MASK;
        match v >> KIND_SHIFT {
            KIND_SHUTDOWN => Some(Token::Shutdown),
            KIND_TASK => Some(Token::Task(TaskId(id))),
            KIND_LOG => Some(Token::Log(StreamId(id as usize))),
            KIND_LOG_SPACE => Some(Token::LogSpace),
            KIND_OBJECT => Some(Token::Object(id)),
            KIND_FORWARD => Some(Token::Forward),
            _ => None,
        }
    }
}

pub struct Reactor {
    epoll: OwnedFd,
}

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Watches `fd` for input under `token`.
    pub fn add(&self, fd: impl AsFd, token: Token) -> io::Result<()> {
        epoll::add(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token.encode()),
            epoll::EventFlags::IN,
        )
        .map_err(Into::into)
    }

    /// Watches `fd` (already added under `token`) for room to write as well
    /// as input, or for input only again. A failure leaves input watched.
    pub fn watch_output(&self, fd: impl AsFd, token: Token, output: bool) {
        let mut flags = epoll::EventFlags::IN;
        if output {
            flags |= epoll::EventFlags::OUT;
        }
        let _ = epoll::modify(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token.encode()),
            flags,
        );
    }

    /// Stops watching `fd` (closing it does too).
    pub fn remove(&self, fd: impl AsFd) {
        let _ = epoll::delete(&self.epoll, fd);
    }

    /// Waits up to `timeout` (`None`: until something happens) and appends
    /// the tokens that are ready. An interrupted wait returns none.
    pub fn wait(&self, timeout: Option<Duration>, ready: &mut Vec<Token>) -> io::Result<()> {
        let ts = timeout.map(|t| rustix::event::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
            tv_nsec: t.subsec_nanos() as i64,
        });
        // epoll events hold a raw pointer, which is not Send, so the buffer
        // lives on this call's stack rather than in the reactor.
        let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events),
            ts.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        for e in &events {
            let raw = e.data.u64();
            match Token::decode(raw) {
                Some(t) => ready.push(t),
                None => crate::diag!("ned: ignoring an event with unknown token {raw:#x}"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_unknown_kinds_are_refused() {
        for t in [
            Token::Shutdown,
            Token::Task(TaskId(0)),
            Token::Task(TaskId(ID_MASK)),
            Token::Log(StreamId(7)),
            Token::LogSpace,
            Token::Object(ID_MASK),
            Token::Forward,
        ] {
            assert_eq!(Token::decode(t.encode()), Some(t));
        }
        assert_eq!(Token::decode(0), None);
        assert_eq!(Token::decode(0xff << KIND_SHIFT), None);
    }

    #[test]
    fn wait_reports_a_ready_pipe_by_its_token() {
        let r = Reactor::new().unwrap();
        let (rd, wr) = rustix::pipe::pipe().unwrap();
        r.add(&rd, Token::Log(StreamId(5))).unwrap();
        let mut ready = Vec::new();
        r.wait(Some(Duration::ZERO), &mut ready).unwrap();
        assert!(ready.is_empty());
        rustix::io::write(&wr, b"x").unwrap();
        r.wait(Some(Duration::from_secs(5)), &mut ready).unwrap();
        assert_eq!(ready, vec![Token::Log(StreamId(5))]);
        r.remove(&rd);
        ready.clear();
        r.wait(Some(Duration::ZERO), &mut ready).unwrap();
        assert!(ready.is_empty());
    }
}
