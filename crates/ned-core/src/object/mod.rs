//! ned's object service: namespaces, factories, schedulers, `rm` and
//! `parent` served to tasks over the object protocol (docs/protocol.md),
//! from ned's one event loop.
//!
//! Every grant of a served cap is one connection (a socketpair: ned keeps
//! one end, non-blocking, under [`Token::Object`]; the task gets the other),
//! and the connection carries the rights of that grant. ned never blocks
//! on a client: it reads at most [`READS_PER_TURN`] messages of one
//! connection per turn, queues at most [`MAX_QUEUED`] unread replies (a
//! client that lets more pile up is dropped), serves at most
//! [`MAX_CONNECTIONS`] connections, and parks a `query` for a name that is
//! not there yet until the name is registered or its wait ends.

pub mod create;
mod forward;

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ned_proto::{Message, Received, Value, op, status};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

pub use create::{Arg, Charge, CreateError, Quota, create, log_spec};
pub use forward::wait_from_env;

use crate::cap::{Cap, Granted, Kind, Object};
use crate::log::{LogMux, StreamSpec, Which};
use crate::reactor::{Reactor, Token};
use crate::rights::Rights;
use crate::supervisor::log_token;

/// Most connections ned serves at once.
pub const MAX_CONNECTIONS: usize = 4096;
/// Most replies queued for a client that does not read them.
pub const MAX_QUEUED: usize = 64;
/// Most messages read from one connection per turn of the loop.
pub const READS_PER_TURN: usize = 32;
/// Most queries parked per connection.
pub const MAX_PARKED: usize = 16;
/// Most quota-charged dataspaces one connection may create.
pub const MAX_CHARGES: usize = 65536;
/// A task's `query` waits this long unless it asks otherwise.
pub const DEFAULT_QUERY_WAIT: Duration = Duration::from_millis(10_000);
/// The longest wait a task's `query` may ask for.
pub const MAX_QUERY_WAIT: Duration = Duration::from_millis(60_000);

/// Why a cap could not be handed to a task.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("ned's object service already serves {MAX_CONNECTIONS} connections: no more are made")]
    TooMany,
    #[error("failed to make a connection to ned's object service")]
    Connect(#[source] std::io::Error),
    #[error("failed to open the log pipe")]
    LogPipe(#[source] std::io::Error),
    #[error(transparent)]
    Cap(#[from] crate::cap::CapError),
}

impl ServiceError {
    pub fn status(&self) -> i32 {
        match self {
            ServiceError::TooMany => status::EMFILE,
            _ => -libc::EIO,
        }
    }
}

/// What the service needs of the supervisor while it works.
pub struct Cx<'a> {
    pub reactor: &'a Reactor,
    pub log: &'a mut LogMux,
}

struct Outgoing {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

struct Conn {
    sock: OwnedFd,
    /// The object and the rights of the grant that made this connection.
    cap: Cap,
    /// Device and inode of the task's end, to recognise it when a task
    /// registers it somewhere.
    end: (u64, u64),
    out: VecDeque<Outgoing>,
    parked: usize,
    /// The quota bytes of the dataspaces this client created: ned cannot
    /// see when a task closes its last fd, so they are held until the
    /// connection that made them is closed.
    charges: Vec<Charge>,
}

struct Parked {
    conn: u64,
    id: u32,
    name: String,
    rights: u32,
    deadline: Instant,
}

/// The connections ned serves and the queries waiting for a name.
#[derive(Default)]
pub struct Service {
    conns: HashMap<u64, Conn>,
    ends: HashMap<(u64, u64), u64>,
    parked: Vec<Parked>,
    next: u64,
    /// ned's own connection to each channel it forwarded a `create` to,
    /// per rights of the script's cap (the connection's label), kept for
    /// the next one (the `Weak` keeps the address from being reused by
    /// another channel while the entry exists).
    pub(crate) forwards: Vec<(std::sync::Weak<Object>, Rights, OwnedFd)>,
    /// At the connection limit since the last refusal was logged: further
    /// refusals are not logged again until a connection closes.
    refusing: bool,
}

fn end_of(fd: impl AsFd) -> std::io::Result<(u64, u64)> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

impl Service {
    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Connections holding `w` on `object`: someone who may register a name.
    pub fn writers(&self, object: &Arc<Object>) -> usize {
        self.conns
            .values()
            .filter(|c| Arc::ptr_eq(&c.cap.object, object) && c.cap.rights.has(Rights::W))
            .count()
    }

    /// A new connection serving `cap`: the end the task receives.
    pub fn connect(&mut self, cx: &mut Cx<'_>, cap: Cap) -> Result<OwnedFd, ServiceError> {
        if self.conns.len() >= MAX_CONNECTIONS {
            if !std::mem::replace(&mut self.refusing, true) {
                crate::diag!("ned: {}", ServiceError::TooMany);
            }
            return Err(ServiceError::TooMany);
        }
        let err = |e: rustix::io::Errno| ServiceError::Connect(e.into());
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(err)?;
        rustix::fs::fcntl_setfl(&theirs, rustix::fs::OFlags::empty()).map_err(err)?;
        let end = end_of(&theirs).map_err(ServiceError::Connect)?;
        let id = self.next;
        cx.reactor
            .add(&ours, Token::Object(id))
            .map_err(ServiceError::Connect)?;
        self.next += 1;
        self.ends.insert(end, id);
        self.conns.insert(
            id,
            Conn {
                sock: ours,
                cap,
                end,
                out: VecDeque::new(),
                parked: 0,
                charges: Vec::new(),
            },
        );
        Ok(theirs)
    }

    /// The descriptor a task receives for `cap` under `name`: a connection
    /// for a served kind, a log pipe for a tagged log, else the cap's own
    /// grant.
    pub fn hand_out(
        &mut self,
        cx: &mut Cx<'_>,
        name: &str,
        cap: &Cap,
    ) -> Result<OwnedFd, ServiceError> {
        if cap.kind().is_served() {
            return self.connect(cx, cap.clone());
        }
        if let Object::Log(Some((tag, color))) = &*cap.object {
            let spec = StreamSpec::tagged(tag, *color);
            let (sid, [out, err]) = cx.log.open(&spec).map_err(ServiceError::LogPipe)?;
            // A log cap is one stream: its stderr pipe just ends.
            drop(err);
            for which in [Which::Out, Which::Err] {
                if let Some(fd) = cx.log.fd(sid, which)
                    && let Err(e) = cx.reactor.add(fd, log_token(sid, which))
                {
                    cx.log.close(sid);
                    return Err(ServiceError::LogPipe(e));
                }
            }
            return Ok(out);
        }
        match cap.grant(name)? {
            Granted::Own(fd) => Ok(fd),
            Granted::Shared(fd) => {
                rustix::io::fcntl_dupfd_cloexec(fd, 0).map_err(|e| ServiceError::Connect(e.into()))
            }
        }
    }

    /// Connection `id` is readable or writable (or hung up).
    pub fn ready(&mut self, cx: &mut Cx<'_>, id: u64) {
        if !self.flush(cx, id) {
            return;
        }
        for _ in 0..READS_PER_TURN {
            let Some(conn) = self.conns.get(&id) else {
                return;
            };
            match ned_proto::recv(&conn.sock) {
                Ok(Some(rec)) => {
                    if let Some((bytes, fds)) = self.handle(cx, id, rec) {
                        self.reply(cx, id, bytes, fds);
                    }
                }
                Ok(None) => return self.close(id),
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return self.close(id),
            }
        }
    }

    fn close(&mut self, id: u64) {
        if let Some(conn) = self.conns.remove(&id) {
            self.refusing = false;
            self.ends.remove(&conn.end);
            self.parked.retain(|p| p.conn != id);
        }
    }

    /// Sends what is queued for `id`; false when the connection is gone.
    fn flush(&mut self, cx: &mut Cx<'_>, id: u64) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        let had = !conn.out.is_empty();
        while let Some(o) = conn.out.front() {
            let fds: Vec<_> = o.fds.iter().map(AsFd::as_fd).collect();
            match ned_proto::send(&conn.sock, &o.bytes, &fds) {
                Ok(()) => {
                    conn.out.pop_front();
                }
                Err(rustix::io::Errno::AGAIN) => return true,
                Err(_) => {
                    self.close(id);
                    return false;
                }
            }
        }
        if had {
            // A failure leaves output watched: one more wake-up, no harm.
            let _ = cx
                .reactor
                .set_interest(&conn.sock, Token::Object(id), true, false);
        }
        true
    }

    fn reply(&mut self, cx: &mut Cx<'_>, id: u64, bytes: Vec<u8>, fds: Vec<OwnedFd>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.out.is_empty() {
            let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
            match ned_proto::send(&conn.sock, &bytes, &borrowed) {
                Ok(()) => return,
                Err(rustix::io::Errno::AGAIN) => {}
                Err(_) => return self.close(id),
            }
        }
        if conn.out.len() >= MAX_QUEUED {
            crate::diag!(
                "ned: dropping a client of a {} that left {MAX_QUEUED} replies unread",
                conn.cap.kind()
            );
            return self.close(id);
        }
        if conn.out.is_empty() {
            let _ = cx
                .reactor
                .set_interest(&conn.sock, Token::Object(id), true, true);
        }
        conn.out.push_back(Outgoing { bytes, fds });
    }

    /// Answers one message; `None` when a query was parked.
    fn handle(
        &mut self,
        cx: &mut Cx<'_>,
        id: u64,
        rec: Received,
    ) -> Option<(Vec<u8>, Vec<OwnedFd>)> {
        let err = |op: u16, rid: u32, st: i32, msg: &str| {
            Some((ned_proto::error_reply(op, rid, st, msg), Vec::new()))
        };
        let peek = ned_proto::peek_id(&rec.bytes);
        if rec.truncated {
            return err(0, peek, status::E2BIG, "message longer than 65536 bytes");
        }
        if rec.fds_truncated {
            return err(0, peek, status::EPROTO, "more than 16 fds in one message");
        }
        let msg = match ned_proto::decode(&rec.bytes) {
            Ok(m) => m,
            Err(e) => return err(0, peek, e.status(), &e.to_string()),
        };
        if usize::from(msg.nfds) != rec.fds.len() {
            let e = ned_proto::ProtocolError::FdCount {
                said: msg.nfds,
                has: rec.fds.len(),
            };
            return err(msg.op, msg.id, e.status(), &e.to_string());
        }
        let cap = self.conns.get(&id)?.cap.clone();
        match self.serve(cx, id, &cap, &msg, rec.fds) {
            Ok(Some((values, fds))) => Some((
                ned_proto::encode(msg.op | ned_proto::REPLY, msg.id, 0, &values),
                fds,
            )),
            Ok(None) => None,
            Err((st, text)) => err(msg.op, msg.id, st, &text),
        }
    }

    /// The op itself. `Ok(None)`: a parked query.
    #[allow(clippy::type_complexity)]
    fn serve(
        &mut self,
        cx: &mut Cx<'_>,
        id: u64,
        cap: &Cap,
        msg: &Message,
        fds: Vec<OwnedFd>,
    ) -> Result<Option<(Vec<Value>, Vec<OwnedFd>)>, (i32, String)> {
        let args = self.args(&msg.values, fds);
        let nosys = || {
            Err((
                status::ENOSYS,
                format!("a {} does not serve op {}", cap.kind(), msg.op),
            ))
        };
        match (msg.op, &*cap.object) {
            (op::TYPE, _) => Ok(Some((type_info(cap), Vec::new()))),
            (op::NAMES, Object::Namespace(map)) => {
                let names = lock(map)
                    .keys()
                    .map(|k| Value::Str(k.clone().into_bytes()))
                    .collect();
                Ok(Some((names, Vec::new())))
            }
            (op::QUERY, Object::Namespace(_)) => {
                let name = string_arg(&args, 0, "query")?;
                let rights = match args.get(1) {
                    None | Some(Arg::Nil) => Rights::R,
                    Some(Arg::Int(r)) => (*r as u32) | Rights::R,
                    Some(_) => return Err(bad("query", 2, "rights must be an integer")),
                };
                let wait = match args.get(2) {
                    None | Some(Arg::Nil) => DEFAULT_QUERY_WAIT,
                    Some(Arg::Int(ms)) if *ms >= 0 => {
                        Duration::from_millis(*ms as u64).min(MAX_QUERY_WAIT)
                    }
                    Some(_) => return Err(bad("query", 3, "wait must be milliseconds >= 0")),
                };
                if let Some(found) = self.lookup(cap, &name, rights) {
                    return self.deliver(cx, found).map(Some);
                }
                if wait.is_zero() {
                    return Err(not_found(&name));
                }
                let conn = self
                    .conns
                    .get_mut(&id)
                    .ok_or((status::EPIPE, String::new()))?;
                if conn.parked >= MAX_PARKED {
                    return Err((
                        status::EBUSY,
                        format!("more than {MAX_PARKED} queries wait on this connection"),
                    ));
                }
                conn.parked += 1;
                self.parked.push(Parked {
                    conn: id,
                    id: msg.id,
                    name,
                    rights,
                    deadline: Instant::now() + wait,
                });
                Ok(None)
            }
            (op::REGISTER, Object::Namespace(map)) => {
                let name = string_arg(&args, 0, "register")?;
                check_entry_name(&name)?;
                match args.get(1) {
                    None | Some(Arg::Nil) => {
                        if !cap.rights.has(Rights::D) {
                            return Err(perm("unlink", "d"));
                        }
                        lock(map).remove(&name);
                    }
                    Some(Arg::Cap(entry)) => {
                        if !cap.rights.has(Rights::W) {
                            return Err(perm("register", "w"));
                        }
                        lock(map).insert(name, entry.clone());
                    }
                    Some(_) => return Err(bad("register", 2, "a cap or nil expected")),
                }
                Ok(Some((Vec::new(), Vec::new())))
            }
            (op::CREATE, Object::Factory(_)) => {
                let proto = match args.first() {
                    Some(Arg::Int(p)) => *p,
                    _ => return Err(bad("create", 1, "protocol number expected")),
                };
                let charged = self.conns.get(&id).map_or(0, |c| c.charges.len());
                if charged >= MAX_CHARGES {
                    return Err((
                        status::ENOMEM,
                        format!("create: this connection holds {MAX_CHARGES} charged dataspaces"),
                    ));
                }
                let mut object = create(cap, proto, &args[1..]).map_err(|e| (e.code, e.msg))?;
                let charge = match &mut object {
                    Object::Dataspace { charge, .. } => charge.take(),
                    _ => None,
                };
                let reply = self.deliver(cx, Cap::new(object, Rights::SERVER))?;
                if let (Some(c), Some(conn)) = (charge, self.conns.get_mut(&id)) {
                    conn.charges.push(c);
                }
                Ok(Some(reply))
            }
            _ => nosys(),
        }
    }

    /// The protocol values as create/register arguments; a cap value takes
    /// its fd.
    fn args(&self, values: &[Value], fds: Vec<OwnedFd>) -> Vec<Arg> {
        let mut fds: Vec<Option<OwnedFd>> = fds.into_iter().map(Some).collect();
        values
            .iter()
            .map(|v| match v {
                Value::Nil => Arg::Nil,
                Value::Int(i) => Arg::Int(*i),
                Value::Str(s) => Arg::Str(s.clone()),
                Value::Cap { fd, rights, .. } => {
                    match fds.get_mut(usize::from(*fd)).and_then(Option::take) {
                        Some(fd) => self.adopt(fd, Rights::from_bits(*rights)),
                        None => Arg::Other("fd"),
                    }
                }
            })
            .collect()
    }

    /// A cap a task sent: one of ned's own connections is that grant's
    /// object (never with more rights); any other fd is what it is.
    fn adopt(&self, fd: OwnedFd, rights: Rights) -> Arg {
        if let Ok(end) = end_of(&fd)
            && let Some(conn) = self.ends.get(&end).and_then(|id| self.conns.get(id))
        {
            return Arg::Cap(conn.cap.with_rights(Rights(conn.cap.rights.0 & rights.0)));
        }
        let read_only = rustix::fs::fcntl_getfl(&fd)
            .map(|f| f & rustix::fs::OFlags::ACCMODE == rustix::fs::OFlags::RDONLY)
            .unwrap_or(true);
        match Object::adopt(fd) {
            Ok(obj) => {
                let kind = obj.kind();
                let mut bits = rights.0;
                if read_only && matches!(kind, Kind::Dataspace | Kind::File) {
                    bits &= !Rights::W;
                }
                Arg::Cap(Cap::new(obj, Rights(bits)))
            }
            Err(_) => Arg::Other("fd of a kind ned has no cap type for"),
        }
    }

    /// The entry `name` with the rights asked for, never more than it holds
    /// and without `s` unless the namespace cap has it.
    fn lookup(&self, ns: &Cap, name: &str, rights: u32) -> Option<Cap> {
        let Object::Namespace(map) = &*ns.object else {
            return None;
        };
        let entry = lock(map).get(name).cloned()?;
        let mut bits = (rights & entry.rights.0) | Rights::R;
        if !ns.rights.has(Rights::S) {
            bits &= !Rights::S;
        }
        Some(entry.with_rights(Rights(bits)))
    }

    #[allow(clippy::type_complexity)]
    fn deliver(
        &mut self,
        cx: &mut Cx<'_>,
        cap: Cap,
    ) -> Result<(Vec<Value>, Vec<OwnedFd>), (i32, String)> {
        let fd = self
            .hand_out(cx, "", &cap)
            .map_err(|e| (e.status(), chain(&e)))?;
        Ok((
            vec![Value::Cap {
                fd: 0,
                kind: cap.kind().code(),
                rights: cap.rights.0,
            }],
            vec![fd],
        ))
    }

    /// When the next parked query must be answered, if any waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.parked.iter().map(|p| p.deadline).min()
    }

    /// Answers the parked queries whose name is there now or whose wait has
    /// ended. Called every turn of the loop (cheap when nothing is parked):
    /// names registered by the script or by another client since are seen.
    pub fn recheck(&mut self, cx: &mut Cx<'_>) {
        if self.parked.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut i = 0;
        while i < self.parked.len() {
            let p = &self.parked[i];
            let Some(conn) = self.conns.get(&p.conn) else {
                self.parked.swap_remove(i);
                continue;
            };
            let ns = conn.cap.clone();
            let found = self.lookup(&ns, &p.name, p.rights);
            if found.is_none() && p.deadline > now {
                i += 1;
                continue;
            }
            let p = self.parked.swap_remove(i);
            if let Some(conn) = self.conns.get_mut(&p.conn) {
                conn.parked -= 1;
            }
            let reply = match found.map(|c| self.deliver(cx, c)) {
                Some(Ok((values, fds))) => (
                    ned_proto::encode(op::QUERY | ned_proto::REPLY, p.id, 0, &values),
                    fds,
                ),
                Some(Err((st, msg))) => (ned_proto::error_reply(op::QUERY, p.id, st, &msg), vec![]),
                None => {
                    let (st, msg) = not_found(&p.name);
                    (ned_proto::error_reply(op::QUERY, p.id, st, &msg), vec![])
                }
            };
            self.reply(cx, p.conn, reply.0, reply.1);
        }
    }
}

/// What `type` answers: kind name, rights, and per kind what a client needs.
fn type_info(cap: &Cap) -> Vec<Value> {
    let mut v = vec![
        Value::Str(cap.kind().name().as_bytes().to_vec()),
        Value::Int(i64::from(cap.rights.0)),
    ];
    match &*cap.object {
        Object::Scheduler {
            prio_limit,
            prio_base,
            cpus,
        } => {
            v.push(Value::Int(*prio_limit));
            v.push(Value::Int(*prio_base));
            v.extend(cpus.iter().flatten().map(|c| Value::Int(*c as i64)));
        }
        Object::Factory(q) => v.push(match q {
            Some(q) => Value::Int(q.available().min(i64::MAX as u64) as i64),
            None => Value::Nil,
        }),
        _ => {}
    }
    v
}

/// An error and its sources, one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn string_arg(args: &[Arg], n: usize, f: &str) -> Result<String, (i32, String)> {
    match args.get(n) {
        Some(Arg::Str(s)) => {
            String::from_utf8(s.clone()).map_err(|_| bad(f, n + 1, "name is not UTF-8"))
        }
        _ => Err(bad(f, n + 1, "string expected")),
    }
}

/// A namespace entry name: what `ns:register` accepts from the script too.
pub fn check_entry_name(name: &str) -> Result<(), (i32, String)> {
    if name.is_empty() || name.len() > 255 || name.contains(['\0', '/']) {
        return Err((status::EINVAL, format!("invalid name '{name}'")));
    }
    Ok(())
}

fn bad(f: &str, n: usize, what: &str) -> (i32, String) {
    (
        status::EINVAL,
        format!("bad argument #{n} to '{f}' ({what})"),
    )
}

fn perm(what: &str, right: &str) -> (i32, String) {
    (
        status::EPERM,
        format!("{what}: namespace cap lacks the '{right}' right"),
    )
}

fn not_found(name: &str) -> (i32, String) {
    (status::ENOENT, format!("query: no entry '{name}'"))
}
