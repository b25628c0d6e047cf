//! Sockets as capabilities: the TCP, UDP and Unix sockets a script binds
//! with `L4.socket` (what systemd's .socket units do for socket activation),
//! and every socket ned was itself started with.
//!
//! A socket cap is one socket; a task it is granted to receives that very
//! socket (the same open file), so a listening socket is shared by every
//! holder, as systemd shares it with the services it activates. Nothing here
//! knows about Lua: the bindings turn a script's table into a [`Spec`].

use std::fmt;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrAny, SocketAddrUnix, SocketFlags, SocketType, ipproto};

/// Backlog of a listening socket unless the script names one; systemd's
/// default too (`Backlog=` is SOMAXCONN). The kernel caps it at
/// `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: i32 = 4096;

/// Errors of creating or inspecting a socket; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("failed to create {0} socket")]
    Create(Protocol, #[source] std::io::Error),
    #[error("failed to set {option} on {addr}")]
    Option {
        option: &'static str,
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to bind {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to listen on {addr}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to set mode {mode:04o} on {addr}")]
    Mode {
        mode: u32,
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// Errors of parsing an address or mode as a script writes it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("'{0}' has no port; expected an address like 127.0.0.1:8080 or [::1]:8080")]
    NoPort(String),
    #[error("port '{0}' is not a number")]
    PortNotNumber(String),
    #[error("port {0} is out of range 0..65535")]
    PortRange(String),
    #[error("'{0}' is not an IP address (host names are not resolved)")]
    NotIp(String),
    #[error("the path is empty")]
    EmptyPath,
    #[error("'{0}' is neither an absolute path nor an abstract name ('@name')")]
    RelativePath(String),
    #[error("the path contains a NUL byte")]
    Nul,
    #[error("the path is {0} bytes, more than the {1} a Unix socket address holds")]
    TooLong(usize, usize),
    #[error("'{0}' is not an octal mode from 0000 to 0777")]
    Mode(String),
}

/// The type of a Unix socket (systemd's ListenStream, ListenDatagram,
/// ListenSequentialPacket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnixType {
    Stream,
    Datagram,
    Seqpacket,
}

impl UnixType {
    fn socket_type(self) -> SocketType {
        match self {
            UnixType::Stream => SocketType::STREAM,
            UnixType::Datagram => SocketType::DGRAM,
            UnixType::Seqpacket => SocketType::SEQPACKET,
        }
    }

    /// Datagram sockets are bound only; the others listen.
    fn listens(self) -> bool {
        self != UnixType::Datagram
    }
}

/// What a socket speaks, as scripts see it in `sock:protocol()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Unix(UnixType),
    /// Any other socket ned was started with (netlink, SCTP, raw, ...): it
    /// is passed on like the others, ned only cannot name it.
    Other {
        family: u16,
        ty: u32,
    },
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Tcp => f.write_str("tcp"),
            Protocol::Udp => f.write_str("udp"),
            Protocol::Unix(UnixType::Stream) => f.write_str("unix-stream"),
            Protocol::Unix(UnixType::Datagram) => f.write_str("unix-dgram"),
            Protocol::Unix(UnixType::Seqpacket) => f.write_str("unix-seqpacket"),
            Protocol::Other { family, ty } => write!(f, "family-{family}-type-{ty}"),
        }
    }
}

/// A socket to create: the script's `L4.socket{...}` after its fields were
/// checked.
#[derive(Clone, Debug)]
pub enum Spec {
    Tcp {
        addr: SocketAddr,
        backlog: i32,
        reuseaddr: bool,
    },
    Udp {
        addr: SocketAddr,
        reuseaddr: bool,
    },
    Unix {
        addr: SocketAddrUnix,
        ty: UnixType,
        backlog: i32,
        /// Permission bits of the socket file (path addresses only).
        mode: Option<u32>,
    },
}

/// A socket held by ned.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    protocol: Protocol,
    listening: bool,
}

impl Socket {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether the socket accepts connections (`SO_ACCEPTCONN`).
    pub fn listening(&self) -> bool {
        self.listening
    }

    /// The address the socket is bound to, as [`parse_inet`] and
    /// [`parse_unix`] read it back (`127.0.0.1:41234`, `[::1]:53`,
    /// `/run/x.sock`, `@name`); `None` for an unbound socket or one of a
    /// family ned cannot name. Asked of the kernel, so port 0 shows the
    /// port it chose.
    pub fn address(&self) -> Option<String> {
        rustix::net::getsockname(&self.fd)
            .ok()
            .and_then(|a| show_addr(&a))
    }

    /// Looks at a socket ned was handed (`LISTEN_FDS`).
    pub fn inspect(fd: OwnedFd) -> Result<Socket, Errno> {
        use rustix::net::sockopt;
        let family = sockopt::socket_domain(&fd)?;
        let ty = sockopt::socket_type(&fd)?;
        let proto = sockopt::socket_protocol(&fd)?;
        let listening = sockopt::socket_acceptconn(&fd)?;
        let inet = family == AddressFamily::INET || family == AddressFamily::INET6;
        let unix = |t| (family == AddressFamily::UNIX).then_some(Protocol::Unix(t));
        let protocol = match ty {
            SocketType::STREAM if inet && proto == Some(ipproto::TCP) => Some(Protocol::Tcp),
            SocketType::DGRAM if inet && proto == Some(ipproto::UDP) => Some(Protocol::Udp),
            SocketType::STREAM => unix(UnixType::Stream),
            SocketType::DGRAM => unix(UnixType::Datagram),
            SocketType::SEQPACKET => unix(UnixType::Seqpacket),
            _ => None,
        }
        .unwrap_or(Protocol::Other {
            family: family.as_raw(),
            ty: ty.as_raw(),
        });
        Ok(Socket {
            fd,
            protocol,
            listening,
        })
    }

    /// Creates, binds and (for stream and seqpacket) listens. On any failure
    /// the new socket is closed again: nothing is left behind.
    pub fn bind(spec: &Spec) -> Result<Socket, SocketError> {
        match spec {
            Spec::Tcp {
                addr,
                backlog,
                reuseaddr,
            } => inet(Protocol::Tcp, *addr, *reuseaddr, Some(*backlog)),
            Spec::Udp { addr, reuseaddr } => inet(Protocol::Udp, *addr, *reuseaddr, None),
            Spec::Unix {
                addr,
                ty,
                backlog,
                mode,
            } => unix(addr, *ty, *backlog, *mode),
        }
    }
}

fn inet(
    protocol: Protocol,
    addr: SocketAddr,
    reuseaddr: bool,
    backlog: Option<i32>,
) -> Result<Socket, SocketError> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let ty = match protocol {
        Protocol::Tcp => SocketType::STREAM,
        _ => SocketType::DGRAM,
    };
    let shown = addr.to_string();
    let fd = rustix::net::socket_with(family, ty, SocketFlags::CLOEXEC, None)
        .map_err(|e| SocketError::Create(protocol, e.into()))?;
    if reuseaddr {
        rustix::net::sockopt::set_socket_reuseaddr(&fd, true).map_err(|e| SocketError::Option {
            option: "SO_REUSEADDR",
            addr: shown.clone(),
            source: e.into(),
        })?;
    }
    rustix::net::bind(&fd, &addr).map_err(|e| SocketError::Bind {
        addr: shown.clone(),
        source: e.into(),
    })?;
    if let Some(backlog) = backlog {
        rustix::net::listen(&fd, backlog).map_err(|e| SocketError::Listen {
            addr: shown,
            source: e.into(),
        })?;
    }
    Ok(Socket {
        fd,
        protocol,
        listening: backlog.is_some(),
    })
}

fn unix(
    addr: &SocketAddrUnix,
    ty: UnixType,
    backlog: i32,
    mode: Option<u32>,
) -> Result<Socket, SocketError> {
    let protocol = Protocol::Unix(ty);
    let shown = show_unix(addr).unwrap_or_default();
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        ty.socket_type(),
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| SocketError::Create(protocol, e.into()))?;
    let mode_err = |mode: u32, e: Errno| SocketError::Mode {
        mode,
        addr: shown.clone(),
        source: e.into(),
    };
    if let Some(mode) = mode {
        // bind(2) creates the socket file with the socket inode's mode minus
        // the umask (net/unix/af_unix.c), so setting the mode first means
        // the file is never more open than asked for, not even for the
        // moment until the chmod below.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(|e| mode_err(mode, e))?;
    }
    match rustix::net::bind(&fd, addr) {
        Err(Errno::ADDRINUSE) if is_stale(addr, ty) => {
            // A socket file nobody is bound to, left by an earlier run (as
            // systemd does, ned takes the path over); a live one stays.
            if let Some(path) = addr.path() {
                let _ = rustix::fs::unlink(path.as_ref());
            }
            rustix::net::bind(&fd, addr)
        }
        other => other,
    }
    .map_err(|e| SocketError::Bind {
        addr: shown.clone(),
        source: e.into(),
    })?;
    let undo = |e: SocketError| {
        if let Some(path) = addr.path() {
            let _ = rustix::fs::unlink(path.as_ref());
        }
        e
    };
    if let (Some(mode), Some(path)) = (mode, addr.path()) {
        set_socket_file_mode(path.as_ref(), mode)
            .map_err(|e| mode_err(mode, e))
            .map_err(undo)?;
    }
    if ty.listens() {
        rustix::net::listen(&fd, backlog)
            .map_err(|e| SocketError::Listen {
                addr: shown.clone(),
                source: e.into(),
            })
            .map_err(undo)?;
    }
    Ok(Socket {
        fd,
        protocol,
        listening: ty.listens(),
    })
}

/// Whether a path address names a socket file with no socket behind it: a
/// connection attempt is refused. Anything else (a live socket, a socket of
/// another type, a file that is not a socket) counts as in use.
fn is_stale(addr: &SocketAddrUnix, ty: UnixType) -> bool {
    let Some(path) = addr.path() else {
        return false;
    };
    let is_socket = rustix::fs::lstat(path.as_ref())
        .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_socket());
    if !is_socket {
        return false;
    }
    // Non-blocking, so a live listener with a full backlog answers EAGAIN
    // instead of making ned wait.
    let Ok(probe) = rustix::net::socket_with(
        AddressFamily::UNIX,
        ty.socket_type(),
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    ) else {
        return false;
    };
    rustix::net::connect(&probe, addr) == Err(Errno::CONNREFUSED)
}

/// chmod of the socket file just bound, without following a symlink that
/// someone may have put in its place since: it must still be a socket.
fn set_socket_file_mode(path: &std::ffi::CStr, mode: u32) -> Result<(), Errno> {
    let file = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&file)?;
    if !rustix::fs::FileType::from_raw_mode(st.st_mode).is_socket() {
        return Err(Errno::NOTSOCK);
    }
    // An O_PATH fd cannot be fchmod'ed; its /proc/self/fd link can be
    // chmod'ed and names exactly the file opened above.
    let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&file));
    rustix::fs::chmod(proc.as_str(), Mode::from_raw_mode(mode))
}

fn show_addr(addr: &SocketAddrAny) -> Option<String> {
    match addr.address_family() {
        AddressFamily::INET | AddressFamily::INET6 => SocketAddr::try_from(addr.clone())
            .ok()
            .map(|a| a.to_string()),
        AddressFamily::UNIX => SocketAddrUnix::try_from(addr.clone())
            .ok()
            .and_then(|a| show_unix(&a)),
        _ => None,
    }
}

fn show_unix(addr: &SocketAddrUnix) -> Option<String> {
    if let Some(path) = addr.path_bytes() {
        return Some(String::from_utf8_lossy(path).into_owned());
    }
    // rustix 1.1 reads an unnamed address (getsockname of a connected
    // client) back as an empty abstract name, which nobody can bind.
    addr.abstract_name()
        .filter(|name| !name.is_empty())
        .map(|name| format!("@{}", String::from_utf8_lossy(name)))
}

/// `text` for an error message, cut after 64 characters so a runaway string
/// does not become a runaway message.
pub fn quoted(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// An IP address and port: `127.0.0.1:8080`, `[::1]:5353`, port 0 for one
/// the kernel picks. Host names are not resolved (neither does systemd).
pub fn parse_inet(text: &str) -> Result<SocketAddr, ParseError> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(ParseError::NoPort(quoted(text)));
    };
    // `::1` alone splits into "::" and "1": an IPv6 address needs brackets.
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(ParseError::NoPort(quoted(text)));
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::PortNotNumber(quoted(port)));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| ParseError::PortRange(quoted(port)))?;
    let ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map_or_else(
            || host.parse::<std::net::Ipv4Addr>().map(Into::into),
            |h| h.parse::<std::net::Ipv6Addr>().map(Into::into),
        )
        .map_err(|_| ParseError::NotIp(quoted(host)))?;
    Ok(SocketAddr::new(ip, port))
}

/// A Unix socket address: an absolute path, or `@name` for an abstract
/// one (systemd's spelling).
pub fn parse_unix(text: &str) -> Result<SocketAddrUnix, ParseError> {
    // sun_path holds 108 bytes; a path needs its terminating NUL, an
    // abstract name its leading one.
    const SUN_PATH: usize = 108;
    if text.contains('\0') {
        return Err(ParseError::Nul);
    }
    let too_long = || ParseError::TooLong(text.len(), SUN_PATH - 1);
    if let Some(name) = text.strip_prefix('@') {
        if name.is_empty() {
            return Err(ParseError::EmptyPath);
        }
        return SocketAddrUnix::new_abstract_name(name.as_bytes()).map_err(|_| too_long());
    }
    if text.is_empty() {
        return Err(ParseError::EmptyPath);
    }
    if !text.starts_with('/') {
        return Err(ParseError::RelativePath(quoted(text)));
    }
    if text.len() >= SUN_PATH {
        return Err(too_long());
    }
    SocketAddrUnix::new(text).map_err(|_| too_long())
}

/// A file mode in octal, as `chmod` takes it: `"660"` or `"0660"`.
pub fn parse_mode(text: &str) -> Result<u32, ParseError> {
    let bad = || ParseError::Mode(quoted(text));
    if text.is_empty() || text.len() > 4 {
        return Err(bad());
    }
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inet_addresses() {
        assert_eq!(
            parse_inet("127.0.0.1:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(parse_inet("[::1]:0").unwrap().to_string(), "[::1]:0");
        assert_eq!(
            parse_inet("127.0.0.1:70000"),
            Err(ParseError::PortRange("70000".into()))
        );
        assert_eq!(
            parse_inet("127.0.0.1:99999999999999999999999"),
            Err(ParseError::PortRange("99999999999999999999999".into()))
        );
        assert_eq!(
            parse_inet("127.0.0.1"),
            Err(ParseError::NoPort("127.0.0.1".into()))
        );
        assert_eq!(parse_inet("::1"), Err(ParseError::NoPort("::1".into())));
        assert_eq!(
            parse_inet("1.2.3:80"),
            Err(ParseError::NotIp("1.2.3".into()))
        );
        assert_eq!(
            parse_inet("localhost:80"),
            Err(ParseError::NotIp("localhost".into()))
        );
        assert_eq!(
            parse_inet("[::1]:-1"),
            Err(ParseError::PortNotNumber("-1".into()))
        );
        assert_eq!(
            parse_inet("[127.0.0.1]:80"),
            Err(ParseError::NotIp("[127.0.0.1]".into()))
        );
    }

    #[test]
    fn unix_addresses_and_modes() {
        assert!(parse_unix("/run/x.sock").unwrap().path().is_some());
        assert_eq!(
            parse_unix("@ned-x").unwrap().abstract_name(),
            Some(&b"ned-x"[..])
        );
        assert_eq!(
            parse_unix("x.sock"),
            Err(ParseError::RelativePath("x.sock".into()))
        );
        assert_eq!(parse_unix(""), Err(ParseError::EmptyPath));
        assert_eq!(parse_unix("@"), Err(ParseError::EmptyPath));
        let long = format!("/{}", "x".repeat(107));
        assert!(matches!(parse_unix(&long), Err(ParseError::TooLong(..))));
        assert!(parse_unix(&long[..107]).is_ok());
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("600"), Ok(0o600));
        for bad in ["", "0999", "1777", "rw", "00000", "-1"] {
            assert!(parse_mode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bound_socket_tells_its_port() {
        let spec = Spec::Tcp {
            addr: parse_inet("127.0.0.1:0").unwrap(),
            backlog: 8,
            reuseaddr: true,
        };
        let s = Socket::bind(&spec).unwrap();
        let addr = s.address().unwrap();
        assert!(
            addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
            "{addr}"
        );
        assert!(s.listening() && s.protocol() == Protocol::Tcp);
        // The same address while the first listens: in use.
        let again = Spec::Tcp {
            addr: parse_inet(&addr).unwrap(),
            backlog: 8,
            reuseaddr: true,
        };
        let err = Socket::bind(&again).unwrap_err();
        assert!(matches!(err, SocketError::Bind { .. }), "{err}");
        let seen = Socket::inspect(s.fd).unwrap();
        assert_eq!((seen.protocol(), seen.listening()), (Protocol::Tcp, true));
    }
}
