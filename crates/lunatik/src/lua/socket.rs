//! `socket` module: Unix, TCP and UDP sockets for sleepable runtimes, with
//! upstream Lunatik's names (`socket.new(af, type, proto)`, `bind`,
//! `listen`, `accept`, `connect`, `send`, `receive`, `getsockname`,
//! `getpeername`, `close`; constants `socket.af`, `socket.sock`,
//! `socket.ipproto`), plus what ned adds: `sock:settimeout(seconds)` and
//! `socket.from(cap)`, which turns a ned channel cap into a socket (the
//! listening end of a server cap, to `accept` on; a fresh connection for a
//! client cap) so that a runtime can serve the tasks ned started.
//!
//! As upstream, a failing call raises the positive errno as an integer
//! (`pcall(s.accept, s, socket.sock.NONBLOCK)` gives `false, 11` when no
//! client waits; `linux.errno.AGAIN` is 11). IPv4 addresses are integers in
//! host order, as upstream's `socket.inet.aton` makes them; Unix addresses
//! are paths (a leading `"\0"` is an abstract name).
//!
//! A socket is a shareable object (a worker thread may be handed the
//! session a daemon accepted). Operations use a counted reference to the
//! descriptor, so `close()` from one thread shuts the socket down, waking
//! a peer blocked in it, and the descriptor goes when the last user is done.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mlua::{Lua, MultiValue, Table, Value};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, Shutdown, SocketAddrAny, SocketAddrUnix, SocketFlags,
    SocketType, sockopt,
};

use super::class::{LuaClass, Method, extract, push_object};
use super::{Args, function, may_block, none, ret};
use crate::error::Raise;
use crate::object::Object;
use crate::stats::{Kind, Live};

/// `socket.sock.NONBLOCK` and `CLOEXEC`, as Linux numbers them.
const NONBLOCK: i64 = 0o4000;
const CLOEXEC: i64 = 0o2000000;
/// `receive`'s default and largest length.
const DEFAULT_LEN: usize = 1024;
const MAX_LEN: usize = 16 << 20;

/// A `socket` object.
pub struct SocketObj {
    fd: Mutex<Option<Arc<OwnedFd>>>,
    family: AddressFamily,
    _live: Live,
}

impl Object for SocketObj {
    fn class(&self) -> &'static str {
        "socket"
    }
    fn socket(&self) -> Option<std::io::Result<OwnedFd>> {
        let fd = self.fd.lock().unwrap_or_else(PoisonError::into_inner);
        fd.as_ref().map(|fd| fd.try_clone())
    }
}

impl SocketObj {
    fn new(fd: OwnedFd, family: AddressFamily) -> SocketObj {
        SocketObj {
            fd: Mutex::new(Some(Arc::new(fd))),
            family,
            _live: Live::new(Kind::Socket),
        }
    }

    /// The descriptor, for one operation; EBADF once closed.
    fn fd(&self) -> Result<Arc<OwnedFd>, Raise> {
        self.fd
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(Raise::errno(Errno::BADF.raw_os_error()))
    }
}

fn errno(e: Errno) -> Raise {
    Raise::errno(e.raw_os_error())
}

type Outcome = Result<MultiValue, Raise>;

/// An address argument at `n` (and `n + 1` for an IPv4 port).
enum Addr {
    V4(SocketAddrV4),
    Unix(SocketAddrUnix),
}

fn addr_arg(lua: &Lua, s: &SocketObj, a: &Args, n: usize) -> Result<Addr, Raise> {
    if s.family == AddressFamily::UNIX {
        let path = a.bytes(lua, n)?;
        let addr = match path.strip_prefix(b"\0") {
            Some(name) => SocketAddrUnix::new_abstract_name(name),
            None => SocketAddrUnix::new(path.as_slice()),
        };
        return addr
            .map(Addr::Unix)
            .map_err(|_| a.bad(n, "invalid unix path"));
    }
    let ip = match a.get(n) {
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
            .ok_or_else(|| a.bad(n, "invalid IPv4 address"))?,
        _ => {
            let v = a.integer(n)?;
            Ipv4Addr::from(u32::try_from(v).map_err(|_| a.bad(n, "invalid IPv4 address"))?)
        }
    };
    let port = u16::try_from(a.integer(n + 1)?).map_err(|_| a.bad(n + 1, "invalid port"))?;
    Ok(Addr::V4(SocketAddrV4::new(ip, port)))
}

/// An address as upstream returns it: `ip, port` or a path.
fn push_addr(lua: &Lua, addr: Option<SocketAddrAny>) -> Result<Vec<Value>, Raise> {
    let Some(addr) = addr else {
        return Ok(vec![Value::Nil]);
    };
    if let Ok(v4) = SocketAddrV4::try_from(addr.clone()) {
        return Ok(vec![
            Value::Integer(i64::from(u32::from(*v4.ip()))),
            Value::Integer(i64::from(v4.port())),
        ]);
    }
    if let Ok(unix) = SocketAddrUnix::try_from(addr) {
        let bytes = match (unix.path_bytes(), unix.abstract_name()) {
            (Some(p), _) => p.to_vec(),
            (None, Some(name)) => [b"\0", name].concat(),
            (None, None) => Vec::new(),
        };
        return Ok(vec![Value::String(lua.create_string(bytes)?)]);
    }
    Ok(vec![Value::Nil])
}

fn bind(lua: &Lua, s: &Arc<SocketObj>, a: Args) -> Outcome {
    let fd = s.fd()?;
    match addr_arg(lua, s, &a, 1)? {
        Addr::V4(v4) => {
            // As servers expect: a restarted one can bind its port again.
            sockopt::set_socket_reuseaddr(&*fd, true).map_err(errno)?;
            rustix::net::bind(&*fd, &v4)
        }
        Addr::Unix(u) => rustix::net::bind(&*fd, &u),
    }
    .map_err(errno)?;
    Ok(none())
}

fn listen(_: &Lua, s: &Arc<SocketObj>, a: Args) -> Outcome {
    let backlog = a.opt_integer(1)?.unwrap_or(128);
    let backlog = i32::try_from(backlog).map_err(|_| a.bad(1, "invalid backlog"))?;
    rustix::net::listen(&*s.fd()?, backlog).map_err(errno)?;
    Ok(none())
}

fn flags_arg(a: &Args, n: usize) -> Result<i64, Raise> {
    Ok(a.opt_integer(n)?.unwrap_or(0))
}

/// Runs `op` on the descriptor, non-blocking for this call when `flags`
/// holds `NONBLOCK` (upstream's per-call flag).
fn with_flags<T>(
    fd: &OwnedFd,
    flags: i64,
    op: impl FnOnce() -> rustix::io::Result<T>,
) -> Result<T, Raise> {
    if flags & NONBLOCK == 0 {
        return op().map_err(errno);
    }
    let old = rustix::fs::fcntl_getfl(fd).map_err(errno)?;
    rustix::fs::fcntl_setfl(fd, old | rustix::fs::OFlags::NONBLOCK).map_err(errno)?;
    let r = op();
    rustix::fs::fcntl_setfl(fd, old).map_err(errno)?;
    r.map_err(errno)
}

fn accept(lua: &Lua, s: &Arc<SocketObj>, a: Args) -> Outcome {
    may_block(lua, "accept")?;
    let fd = s.fd()?;
    let flags = flags_arg(&a, 1)?;
    let conn = with_flags(&fd, flags, || {
        rustix::net::accept_with(&*fd, SocketFlags::CLOEXEC)
    })?;
    let obj = SocketObj::new(conn, s.family);
    Ok(ret([push_object(lua, Arc::new(obj))?]))
}

fn connect(lua: &Lua, s: &Arc<SocketObj>, a: Args) -> Outcome {
    may_block(lua, "connect")?;
    let fd = s.fd()?;
    let addr = addr_arg(lua, s, &a, 1)?;
    let flags_at = if matches!(addr, Addr::V4(_)) { 3 } else { 2 };
    let flags = flags_arg(&a, flags_at)?;
    with_flags(&fd, flags, || match &addr {
        Addr::V4(v4) => rustix::net::connect(&*fd, v4),
        Addr::Unix(u) => rustix::net::connect(&*fd, u),
    })?;
    Ok(none())
}

fn send(lua: &Lua, s: &Arc<SocketObj>, a: Args) -> Outcome {
    may_block(lua, "send")?;
    let fd = s.fd()?;
    let msg = a.bytes(lua, 1)?;
    let n = if a.opt(2).is_some_and(|v| !v.is_nil()) {
        match addr_arg(lua, s, &a, 2)? {
            Addr::V4(v4) => rustix::net::sendto(&*fd, &msg, SendFlags::NOSIGNAL, &v4),
            Addr::Unix(u) => rustix::net::sendto(&*fd, &msg, SendFlags::NOSIGNAL, &u),
        }
    } else {
        rustix::net::send(&*fd, &msg, SendFlags::NOSIGNAL)
    }
    .map_err(errno)?;
    Ok(ret([Value::Integer(n as i64)]))
}

fn receive(lua: &Lua, s: &Arc<SocketObj>, a: Args) -> Outcome {
    may_block(lua, "receive")?;
    let fd = s.fd()?;
    let len = match a.opt_integer(1)? {
        None => DEFAULT_LEN,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|&n| n <= MAX_LEN)
            .ok_or_else(|| a.bad(1, format!("length must be between 0 and {MAX_LEN}")))?,
    };
    let flags = flags_arg(&a, 2)?;
    let from = matches!(a.opt(3), Some(Value::Boolean(true)));
    let mut buf = vec![0u8; len];
    let (n, addr) = with_flags(&fd, flags, || {
        rustix::net::recvfrom(&*fd, &mut buf, RecvFlags::empty()).map(|(n, _, addr)| (n, addr))
    })?;
    buf.truncate(n);
    let mut out = vec![Value::String(lua.create_string(&buf)?)];
    if from {
        out.extend(push_addr(lua, addr)?);
    }
    Ok(ret(out))
}

fn sockname(lua: &Lua, s: &Arc<SocketObj>, _: Args) -> Outcome {
    let addr = rustix::net::getsockname(&*s.fd()?).map_err(errno)?;
    Ok(ret(push_addr(lua, Some(addr))?))
}

fn peername(lua: &Lua, s: &Arc<SocketObj>, _: Args) -> Outcome {
    let addr = rustix::net::getpeername(&*s.fd()?).map_err(errno)?;
    Ok(ret(push_addr(lua, addr)?))
}

fn settimeout(_: &Lua, s: &Arc<SocketObj>, a: Args) -> Outcome {
    let fd = s.fd()?;
    let t = match a.opt(1) {
        None | Some(Value::Nil) => None,
        Some(_) => {
            let secs = a.number(1)?;
            if !(secs.is_finite() && secs > 0.0) {
                return Err(a.bad(1, "timeout must be a positive number of seconds"));
            }
            Some(Duration::from_secs_f64(secs.min(1e9)))
        }
    };
    for which in [sockopt::Timeout::Recv, sockopt::Timeout::Send] {
        sockopt::set_socket_timeout(&*fd, which, t).map_err(errno)?;
    }
    Ok(none())
}

fn close(_: &Lua, s: &Arc<SocketObj>, _: Args) -> Outcome {
    let fd = s.fd.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(fd) = fd {
        // Wakes a user blocked in this socket on another thread; the
        // descriptor itself closes when that user lets go of it.
        let _ = rustix::net::shutdown(&*fd, Shutdown::Both);
    }
    Ok(none())
}

impl LuaClass for SocketObj {
    const NAME: &'static str = "socket";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[
            ("bind", bind),
            ("listen", listen),
            ("accept", accept),
            ("connect", connect),
            ("send", send),
            ("receive", receive),
            ("getsockname", sockname),
            ("getpeername", peername),
            ("settimeout", settimeout),
            ("close", close),
        ]
    }
    fn metamethods() -> &'static [(&'static str, Method<Self>)] {
        &[("__close", close)]
    }
}

fn new(lua: &Lua, args: Args) -> Outcome {
    may_block(lua, "socket.new")?;
    let af = args.integer(1)?;
    let family = match af {
        1 => AddressFamily::UNIX,
        2 => AddressFamily::INET,
        _ => return Err(args.bad(1, "address family must be socket.af.UNIX or INET")),
    };
    let ty = args.integer(2)?;
    let extra = ty & (NONBLOCK | CLOEXEC);
    let kind = match ty & !(NONBLOCK | CLOEXEC) {
        1 => SocketType::STREAM,
        2 => SocketType::DGRAM,
        5 => SocketType::SEQPACKET,
        _ => return Err(args.bad(2, "type must be socket.sock.STREAM, DGRAM or SEQPACKET")),
    };
    let proto = args.opt_integer(3)?.unwrap_or(0);
    let protocol = match proto {
        0 => None,
        p => Some(rustix::net::Protocol::from_raw(
            u32::try_from(p)
                .ok()
                .and_then(std::num::NonZeroU32::new)
                .ok_or_else(|| args.bad(3, "invalid protocol"))?,
        )),
    };
    let mut flags = SocketFlags::CLOEXEC;
    if extra & NONBLOCK != 0 {
        flags |= SocketFlags::NONBLOCK;
    }
    let fd = rustix::net::socket_with(family, kind, flags, protocol).map_err(errno)?;
    Ok(ret([push_object(
        lua,
        Arc::new(SocketObj::new(fd, family)),
    )?]))
}

/// `socket.from(obj)`: a socket on a shareable object that has one.
fn from(lua: &Lua, args: Args) -> Outcome {
    may_block(lua, "socket.from")?;
    let obj = match args.get(1) {
        Some(Value::UserData(ud)) => extract(ud),
        _ => None,
    }
    .ok_or_else(|| args.expected(1, "cap"))?;
    let fd = obj
        .socket()
        .ok_or_else(|| args.bad(1, format!("a {} has no socket", obj.class())))?
        .map_err(|e| Raise::new(format!("socket.from: {e}")))?;
    let family = match rustix::net::getsockname(&fd) {
        Ok(a) if SocketAddrV4::try_from(a.clone()).is_ok() => AddressFamily::INET,
        Ok(_) => AddressFamily::UNIX,
        Err(e) => return Err(errno(e)),
    };
    // Blocking, whatever the object's own descriptor was set to.
    let fl = rustix::fs::fcntl_getfl(&fd).map_err(errno)?;
    rustix::fs::fcntl_setfl(&fd, fl - rustix::fs::OFlags::NONBLOCK).map_err(errno)?;
    Ok(ret([push_object(
        lua,
        Arc::new(SocketObj::new(fd, family)),
    )?]))
}

fn constants(lua: &Lua, pairs: &[(&str, i64)]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for (k, v) in pairs {
        t.set(*k, *v)?;
    }
    Ok(t)
}

/// Builds the `socket` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("new", function(lua, "new", new)?)?;
    t.set("from", function(lua, "from", from)?)?;
    t.set(
        "af",
        constants(lua, &[("UNIX", 1), ("LOCAL", 1), ("INET", 2)])?,
    )?;
    t.set(
        "sock",
        constants(
            lua,
            &[
                ("STREAM", 1),
                ("DGRAM", 2),
                ("SEQPACKET", 5),
                ("NONBLOCK", NONBLOCK),
                ("CLOEXEC", CLOEXEC),
            ],
        )?,
    )?;
    t.set(
        "ipproto",
        constants(lua, &[("IP", 0), ("TCP", 6), ("UDP", 17)])?,
    )?;
    Ok(t)
}
