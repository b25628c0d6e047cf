//! The script's side of the object service: `cap:create(...)` on a channel
//! forwarded to the channel's server (a driver task), and `ns:query` waiting
//! for a name a task may still register. Both turn ned's loop while they
//! wait ([`Supervisor::run_until`]), so logs flow and other clients are
//! served, and both are bounded.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ned_proto::{Value, op, status};

use super::{Arg, CreateError, Cx, chain, lock};
use crate::cap::{Cap, Object};
use crate::reactor::Token;
use crate::rights::Rights;
use crate::supervisor::{Supervisor, Until};

/// The bound of a forwarded `create` and of a script's waiting `query`:
/// `NED_OBJECT_WAIT_MS` from ned's environment, else 10 s.
pub fn wait_from_env() -> Duration {
    std::env::var("NED_OBJECT_WAIT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// A new connection of ned's to a channel, non-blocking.
/// ned's connection to `chan` for a script's cap with `rights`, labelled
/// with those rights and no cap name: the server sees ned itself asking
/// (docs/protocol.md, "Labels").
fn connect(chan: &crate::channel::Channel, rights: Rights) -> Result<OwnedFd, CreateError> {
    let sock = chan
        .connect(Some(crate::channel::Label { rights, name: "" }))
        .map_err(|e| fail(format!("create: {}", chain(&e)), status::EPIPE))?;
    rustix::fs::fcntl_setfl(&sock, rustix::fs::OFlags::NONBLOCK)
        .map_err(|e| fail(format!("create: {e}"), -e.raw_os_error()))?;
    Ok(sock)
}

fn send_fail(e: rustix::io::Errno) -> CreateError {
    fail(
        format!("create: failed to send to the server of this channel: {e}"),
        -e.raw_os_error(),
    )
}

fn fail(msg: impl Into<String>, code: i32) -> CreateError {
    CreateError {
        msg: msg.into(),
        code,
    }
}

impl Supervisor {
    /// `ch:create(proto, args...)` on a channel: a `create` request to its
    /// server, answered by a cap or an error. ned keeps its connection to
    /// the channel for the next create (a new one after a timeout or when
    /// the server went away).
    pub fn forward_create(
        &mut self,
        ch: &Cap,
        proto: i64,
        args: &[Arg],
    ) -> Result<Cap, CreateError> {
        let Object::Channel(chan) = &*ch.object else {
            return Err(fail(
                format!("create: a {} is not a factory", ch.kind()),
                status::ENOSYS,
            ));
        };
        // ned's connection from an earlier create with the same rights
        // (its label says them), else a new one.
        let cached = self.objects.forwards.iter().position(|(w, r, _)| {
            std::ptr::eq(w.as_ptr(), Arc::as_ptr(&ch.object)) && *r == ch.rights
        });
        let (sock, fresh) = match cached {
            Some(i) => (self.objects.forwards.swap_remove(i).2, false),
            None => (connect(chan, ch.rights)?, true),
        };
        let mut values = vec![Value::Int(proto)];
        let mut fds: Vec<OwnedFd> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            values.push(match a {
                Arg::Nil => break,
                Arg::Int(n) => Value::Int(*n),
                Arg::Str(s) => Value::Str(s.clone()),
                Arg::Cap(c) => {
                    let mut cx = Cx {
                        reactor: &self.reactor,
                        log: &mut self.log,
                    };
                    let fd = self
                        .objects
                        .hand_out(&mut cx, "", c)
                        .map_err(|e| fail(format!("create: {}", chain(&e)), e.status()))?;
                    fds.push(fd);
                    Value::Cap {
                        fd: (fds.len() - 1) as u16,
                        kind: c.kind().code(),
                        rights: c.rights.0,
                    }
                }
                other => {
                    return Err(fail(
                        format!(
                            "bad argument #{} to 'create' (a {} cannot be sent to a server)",
                            i + 2,
                            other.type_name()
                        ),
                        status::EINVAL,
                    ));
                }
            });
        }
        let request = ned_proto::encode(op::CREATE, 1, 0, &values);
        if request.len() > ned_proto::MAX_MESSAGE || fds.len() > ned_proto::MAX_FDS {
            return Err(fail(
                "create: arguments too large for one message",
                status::E2BIG,
            ));
        }
        let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
        let sock = match ned_proto::send(&sock, &request, &borrowed) {
            Ok(()) => sock,
            // The cached connection's server went away: try a new one once.
            Err(_) if !fresh => {
                let sock = connect(chan, ch.rights)?;
                ned_proto::send(&sock, &request, &borrowed).map_err(send_fail)?;
                sock
            }
            Err(e) => return Err(send_fail(e)),
        };
        drop(fds);
        self.reactor
            .add(&sock, Token::Forward)
            .map_err(|e| fail(format!("create: {e}"), status::EPIPE))?;
        self.forward_ready = false;
        let ptr = Arc::as_ptr(&ch.object) as usize;
        let served = move |s: &Supervisor| s.serving(ptr);
        let had_server = served(self);
        let wait = self.object_wait;
        let until = self.run_until(Some(Instant::now() + wait), true, |s| {
            s.forward_ready || (had_server && !served(s))
        });
        self.reactor.remove(&sock);
        self.forward_ready = false;
        match until {
            Until::Done => {}
            Until::Deadline => {
                return Err(fail(
                    format!(
                        "create: the server of this channel did not answer within {} ms",
                        wait.as_millis()
                    ),
                    status::ETIMEDOUT,
                ));
            }
            Until::Shutdown(_) => {
                return Err(fail("create: interrupted: ned is stopping", -libc::EINTR));
            }
        }
        // Nothing to read: the server's task ended. End of file: it
        // closed the connection (or died with it).
        let Ok(Some(rec)) = ned_proto::recv(&sock) else {
            return Err(fail(
                "create: the server of this channel went away before it answered",
                status::EPIPE,
            ));
        };
        let weak = Arc::downgrade(&ch.object);
        self.objects
            .forwards
            .retain(|(w, _, _)| w.strong_count() > 0);
        self.objects.forwards.push((weak, ch.rights, sock));
        let bad = |why: String| {
            fail(
                format!("create: bad reply from the server: {why}"),
                status::EPROTO,
            )
        };
        let msg = ned_proto::decode(&rec.bytes).map_err(|e| bad(e.to_string()))?;
        if msg.op != op::CREATE | ned_proto::REPLY || usize::from(msg.nfds) != rec.fds.len() {
            return Err(bad(format!("op {:#x} with {} fds", msg.op, rec.fds.len())));
        }
        if msg.status != 0 {
            let text = match msg.values.first() {
                Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                _ => format!("create failed with status {}", msg.status),
            };
            return Err(fail(text, msg.status.min(-1)));
        }
        let Some(Value::Cap { fd, rights, .. }) = msg.values.first() else {
            return Err(bad("no cap in the reply".into()));
        };
        let fd = rec
            .fds
            .into_iter()
            .nth(usize::from(*fd))
            .ok_or_else(|| bad("no fd for the cap".into()))?;
        let object = Object::adopt(fd).map_err(|e| bad(chain(&e)))?;
        Ok(Cap::new(object, Rights::from_bits(*rights)))
    }

    /// `ns:query(name)()` from the script, for a name not there: waits
    /// (bounded) while a task holds the namespace with `w` and so might
    /// still register it; returns at once when nobody could.
    pub fn wait_for_name(&mut self, ns: &Cap, name: &str) {
        let Object::Namespace(map) = &*ns.object else {
            return;
        };
        let gone =
            |s: &Supervisor| lock(map).contains_key(name) || s.objects.writers(&ns.object) == 0;
        if gone(self) {
            return;
        }
        let wait = self.object_wait;
        self.run_until(Some(Instant::now() + wait), true, gone);
    }
}
