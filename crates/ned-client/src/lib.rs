//! The library for programs that ned starts (the analog of upstream's l4re
//! runtime library), speaking ned's object protocol (docs/protocol.md):
//!
//! - [`Caps::from_env`]: the caps the task was granted, by name
//!   (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`);
//! - [`Object`]: one served cap (namespace, factory, scheduler): `kind`,
//!   `query`, `register`, `names`, `create`;
//! - [`serve`]: serve a channel as a driver — accept clients, answer their
//!   type queries and `create` requests through a [`Driver`].
//!
//! Everything blocks the calling thread; nothing here needs ned's own code.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

pub use ned_proto::{Value, decode, encode, kind_code, kind_name, op, recv, send, status};

/// Errors of the client library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Env(String),
    #[error("object protocol I/O failed")]
    Io(#[from] io::Error),
    /// ned (or the server) answered with an error.
    #[error("{msg} (status {status})")]
    Server { status: i32, msg: String },
    #[error("bad reply: {0}")]
    Protocol(String),
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Error {
        Error::Io(e.into())
    }
}

/// The caps a task was started with, by name.
pub struct Caps {
    named: Vec<(String, OwnedFd)>,
}

static TAKEN: AtomicBool = AtomicBool::new(false);

impl Caps {
    /// Takes the fds `3..3+LISTEN_FDS` with their `LISTEN_FDNAMES`, once per
    /// process (a second call is an error: the fds have one owner). The fds
    /// are made close-on-exec.
    pub fn from_env() -> Result<Caps, Error> {
        if TAKEN.swap(true, Ordering::SeqCst) {
            return Err(Error::Env("the caps were already taken".into()));
        }
        let var = |k: &str| std::env::var(k).ok();
        let Some(n) = var("LISTEN_FDS") else {
            return Ok(Caps { named: Vec::new() });
        };
        let n: usize = n
            .parse()
            .map_err(|_| Error::Env(format!("LISTEN_FDS={n} is not a number")))?;
        let pid = std::process::id().to_string();
        if var("LISTEN_PID").as_deref() != Some(pid.as_str()) {
            return Err(Error::Env("LISTEN_PID does not name this process".into()));
        }
        let names = var("LISTEN_FDNAMES").unwrap_or_default();
        let names: Vec<&str> = names.split(':').collect();
        if names.len() != n {
            return Err(Error::Env(format!(
                "LISTEN_FDNAMES has {} names for {n} fds",
                names.len()
            )));
        }
        let mut named = Vec::with_capacity(n);
        for (i, name) in names.into_iter().enumerate() {
            let raw = 3 + i as i32;
            // Check the fd is open before anyone owns it.
            // SAFETY: `raw` is only borrowed for this call, and fcntl on a
            // closed number fails harmlessly with EBADF.
            let open = rustix::io::fcntl_getfd(unsafe { BorrowedFd::borrow_raw(raw) });
            if open.is_err() {
                return Err(Error::Env(format!("fd {raw} ({name}) is not open")));
            }
            // SAFETY: the fd is open, and the guard above makes this the one
            // place in the process that takes ownership of it.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
            named.push((name.to_owned(), fd));
        }
        Ok(Caps { named })
    }

    /// The names, in fd order.
    pub fn names(&self) -> Vec<&str> {
        self.named.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Takes the cap `name` out of the set.
    pub fn take(&mut self, name: &str) -> Option<OwnedFd> {
        let i = self.named.iter().position(|(n, _)| n == name)?;
        Some(self.named.remove(i).1)
    }
}

/// A cap received in a reply: its fd, kind and rights.
#[derive(Debug)]
pub struct Got {
    pub fd: OwnedFd,
    pub kind: &'static str,
    pub rights: u32,
}

/// A connection to one served object.
pub struct Object {
    fd: OwnedFd,
    next: u32,
}

/// A cap to send: its fd, kind code and rights.
pub struct Send<'a> {
    pub fd: BorrowedFd<'a>,
    pub kind: u16,
    pub rights: u32,
}

impl Object {
    pub fn new(fd: OwnedFd) -> Object {
        Object { fd, next: 1 }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// One request and its reply: the reply's values and fds, or the error
    /// it carried.
    pub fn call(
        &mut self,
        op: u16,
        values: &[Value],
        fds: &[BorrowedFd<'_>],
    ) -> Result<(Vec<Value>, Vec<OwnedFd>), Error> {
        let id = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        ned_proto::send(&self.fd, &ned_proto::encode(op, id, 0, values), fds)?;
        loop {
            let rec = ned_proto::recv(&self.fd)?
                .ok_or_else(|| Error::Protocol("the connection was closed".into()))?;
            let msg = ned_proto::decode(&rec.bytes).map_err(|e| Error::Protocol(e.to_string()))?;
            if msg.id != id {
                continue;
            }
            if msg.status != 0 {
                let msg_text = match msg.values.first() {
                    Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
                    _ => String::new(),
                };
                return Err(Error::Server {
                    status: msg.status,
                    msg: msg_text,
                });
            }
            return Ok((msg.values, rec.fds));
        }
    }

    /// The kind name and rights of this object, and what follows them.
    pub fn kind(&mut self) -> Result<(String, u32, Vec<Value>), Error> {
        let (mut v, _) = self.call(op::TYPE, &[], &[])?;
        if v.len() < 2 {
            return Err(Error::Protocol("short type reply".into()));
        }
        let rest = v.split_off(2);
        match (&v[0], &v[1]) {
            (Value::Str(k), Value::Int(r)) => {
                Ok((String::from_utf8_lossy(k).into_owned(), *r as u32, rest))
            }
            _ => Err(Error::Protocol("bad type reply".into())),
        }
    }

    /// `query`: the entry `name` (rights asked for, default `r`), waiting
    /// up to `wait_ms` for it to be registered (default 10 s).
    pub fn query(
        &mut self,
        name: &str,
        rights: Option<u32>,
        wait_ms: Option<u64>,
    ) -> Result<Got, Error> {
        let v = [
            Value::Str(name.as_bytes().to_vec()),
            rights.map_or(Value::Nil, |r| Value::Int(i64::from(r))),
            wait_ms.map_or(Value::Nil, |w| Value::Int(w.min(i64::MAX as u64) as i64)),
        ];
        let (vals, fds) = self.call(op::QUERY, &v, &[])?;
        got(vals, fds)
    }

    /// `register`: `cap` under `name`; `None` unlinks.
    pub fn register(&mut self, name: &str, cap: Option<Send<'_>>) -> Result<(), Error> {
        let name = Value::Str(name.as_bytes().to_vec());
        match cap {
            Some(c) => self.call(
                op::REGISTER,
                &[
                    name,
                    Value::Cap {
                        fd: 0,
                        kind: c.kind,
                        rights: c.rights,
                    },
                ],
                &[c.fd],
            ),
            None => self.call(op::REGISTER, &[name, Value::Nil], &[]),
        }
        .map(drop)
    }

    /// The names of a namespace.
    pub fn names(&mut self) -> Result<Vec<String>, Error> {
        let (v, _) = self.call(op::NAMES, &[], &[])?;
        Ok(v.into_iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(String::from_utf8_lossy(&s).into_owned()),
                _ => None,
            })
            .collect())
    }

    /// `create(proto, args...)` on a factory (or a driver's channel).
    pub fn create(&mut self, proto: i64, args: &[Value]) -> Result<Got, Error> {
        let mut v = vec![Value::Int(proto)];
        v.extend_from_slice(args);
        let (vals, fds) = self.call(op::CREATE, &v, &[])?;
        got(vals, fds)
    }
}

fn got(vals: Vec<Value>, fds: Vec<OwnedFd>) -> Result<Got, Error> {
    let Some(Value::Cap { fd, kind, rights }) = vals.first() else {
        return Err(Error::Protocol("no cap in the reply".into()));
    };
    let kind = ned_proto::kind_name(*kind).unwrap_or("Socket");
    let fd = fds
        .into_iter()
        .nth(usize::from(*fd))
        .ok_or_else(|| Error::Protocol("no fd for the cap".into()))?;
    Ok(Got {
        fd,
        kind,
        rights: *rights,
    })
}

/// A client of a channel being served.
pub struct Peer {
    /// Counts accepted connections from 1.
    pub id: u64,
    /// The rights and cap name ned started the client with, read from the
    /// connection's label (docs/protocol.md, "Labels"); `None` when the
    /// connection carries none (ned did not make it). A client cannot
    /// forge it: only ned can connect to a channel.
    pub label: Option<(u32, String)>,
}

impl Peer {
    fn of(conn: &OwnedFd, id: u64) -> Peer {
        let label = rustix::net::getpeername(conn)
            .ok()
            .flatten()
            .and_then(|a| rustix::net::SocketAddrUnix::try_from(a).ok())
            .and_then(|a| {
                let path = a.path()?.to_bytes().to_vec();
                ned_proto::parse_label(&path).map(|(r, n)| (r, n.to_owned()))
            });
        Peer { id, label }
    }

    /// The client's rights (`L4.Rights` bits), if ned labelled it.
    pub fn rights(&self) -> Option<u32> {
        self.label.as_ref().map(|(r, _)| *r)
    }
}

/// What a driver answers for a `create`: the cap to hand back.
pub struct Made {
    pub fd: OwnedFd,
    pub kind: u16,
    pub rights: u32,
}

/// A channel's server.
pub trait Driver {
    /// The kind name answered to `type` (default `Ipc_gate`).
    fn kind(&self) -> &str {
        "Ipc_gate"
    }

    /// A `create(proto, args...)` from `peer`: the new object, or a status
    /// (`-errno`) and a message.
    fn create(
        &mut self,
        peer: &Peer,
        proto: i64,
        args: &[Value],
        fds: Vec<OwnedFd>,
    ) -> Result<Made, (i32, String)>;
}

/// Serves `listener` (a channel's listening socket) forever: accepts
/// clients, answers `type` and `create`, and `ENOSYS` to anything else. A
/// client that sends garbage gets `EPROTO`; one that does not read its
/// replies is dropped. Returns only when the listener fails.
pub fn serve(listener: OwnedFd, driver: &mut impl Driver) -> Result<(), Error> {
    use rustix::event::{PollFd, PollFlags};
    let mut clients: Vec<(OwnedFd, Peer)> = Vec::new();
    let mut next = 1;
    loop {
        let mut polls: Vec<PollFd<'_>> = Vec::with_capacity(clients.len() + 1);
        polls.push(PollFd::new(&listener, PollFlags::IN));
        for (c, _) in &clients {
            polls.push(PollFd::new(c, PollFlags::IN));
        }
        match rustix::event::poll(&mut polls, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = polls.iter().map(|p| !p.revents().is_empty()).collect();
        drop(polls);
        let mut gone = Vec::new();
        for (i, (c, peer)) in clients.iter().enumerate() {
            if ready[i + 1] && !answer(c, peer, driver) {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
        if ready[0] {
            let c = rustix::net::accept_with(
                &listener,
                rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
            )?;
            let peer = Peer::of(&c, next);
            clients.push((c, peer));
            next += 1;
        }
    }
}

/// Answers what client `c` sent; false when it is gone or dropped.
fn answer(c: &OwnedFd, peer: &Peer, driver: &mut impl Driver) -> bool {
    let rec = match ned_proto::recv(c) {
        Ok(Some(rec)) => rec,
        Ok(None) => return false,
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => return true,
        Err(_) => return false,
    };
    let (reply, fds) = match ned_proto::decode(&rec.bytes) {
        Err(e) => (
            ned_proto::error_reply(
                0,
                ned_proto::peek_id(&rec.bytes),
                e.status(),
                &e.to_string(),
            ),
            None,
        ),
        Ok(m) if m.op == op::TYPE => (
            ned_proto::encode(
                op::TYPE | ned_proto::REPLY,
                m.id,
                0,
                &[
                    Value::Str(driver.kind().as_bytes().to_vec()),
                    Value::Int(i64::from(TYPE_RIGHTS)),
                ],
            ),
            None,
        ),
        Ok(m) if m.op == op::CREATE => {
            let proto = match m.values.first() {
                Some(Value::Int(p)) => Some(*p),
                _ => None,
            };
            match proto.map(|p| driver.create(peer, p, &m.values[1..], rec.fds)) {
                Some(Ok(made)) => (
                    ned_proto::encode(
                        op::CREATE | ned_proto::REPLY,
                        m.id,
                        0,
                        &[Value::Cap {
                            fd: 0,
                            kind: made.kind,
                            rights: made.rights,
                        }],
                    ),
                    Some(made.fd),
                ),
                Some(Err((st, msg))) => (ned_proto::error_reply(m.op, m.id, st, &msg), None),
                None => (
                    ned_proto::error_reply(
                        m.op,
                        m.id,
                        status::EINVAL,
                        "bad argument #1 to 'create' (protocol number expected)",
                    ),
                    None,
                ),
            }
        }
        Ok(m) => (
            ned_proto::error_reply(m.op, m.id, status::ENOSYS, "op not served by this driver"),
            None,
        ),
    };
    let fds: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
    ned_proto::send(c, &reply, &fds).is_ok()
}

/// The rights a driver reports in `type`: `r`, what any client holds.
const TYPE_RIGHTS: u32 = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

    struct Echo;

    impl Driver for Echo {
        fn kind(&self) -> &str {
            "Goos"
        }

        fn create(
            &mut self,
            peer: &Peer,
            proto: i64,
            args: &[Value],
            _: Vec<OwnedFd>,
        ) -> Result<Made, (i32, String)> {
            if proto != 1 {
                return Err((status::ENOSYS, format!("proto {proto} from {}", peer.id)));
            }
            assert_eq!(args, [Value::Str(b"g=1x1".to_vec())]);
            let fd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
            Ok(Made {
                fd,
                kind: kind_code("Dataspace").unwrap(),
                rights: 5,
            })
        }
    }

    #[test]
    fn a_driver_answers_type_create_and_garbage() {
        let dir = std::env::temp_dir().join(format!("ned-client-t-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let addr = SocketAddrUnix::new(path.as_path()).unwrap();
        let sock = || {
            rustix::net::socket_with(
                AddressFamily::UNIX,
                SocketType::SEQPACKET,
                SocketFlags::CLOEXEC,
                None,
            )
            .unwrap()
        };
        let listener = sock();
        rustix::net::bind(&listener, &addr).unwrap();
        rustix::net::listen(&listener, 8).unwrap();
        std::thread::spawn(move || serve(listener, &mut Echo));
        let c = sock();
        rustix::net::connect(&c, &addr).unwrap();
        let mut obj = Object::new(c);
        let (kind, _, _) = obj.kind().unwrap();
        assert_eq!(kind, "Goos");
        let got = obj.create(1, &[Value::Str(b"g=1x1".to_vec())]).unwrap();
        assert_eq!((got.kind, got.rights), ("Dataspace", 5));
        match obj.create(2, &[]) {
            Err(Error::Server { status, msg }) => {
                assert_eq!((status, msg.as_str()), (status::ENOSYS, "proto 2 from 1"));
            }
            other => panic!("{other:?}"),
        }
        // Garbage gets an error reply; the connection goes on.
        ned_proto::send(obj.fd(), b"xx", &[]).unwrap();
        let rec = ned_proto::recv(obj.fd()).unwrap().unwrap();
        assert_eq!(
            ned_proto::decode(&rec.bytes).unwrap().status,
            status::EPROTO
        );
        assert_eq!(obj.kind().unwrap().0, "Goos");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
