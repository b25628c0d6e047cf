//! Channels: a listening Unix SOCK_SEQPACKET socket that only ned can
//! connect clients to (spec §5).
//!
//! An abstract address would be reachable by every process of every uid
//! (abstract names have no permission check and are listed in
//! `/proc/net/unix`), so a channel has no name anyone could find. Its
//! listener is bound to `s` in a fresh 0700 directory; ned opens that
//! socket file with `O_PATH` and removes the file and the directory. The
//! socket then has no name left in any file system, and ned connects each
//! client through `/proc/self/fd/<the O_PATH fd>`, a path that names ned's
//! own descriptor and so means nothing in any other process. Where `/proc`
//! is missing, the socket file stays in its 0700 directory (ned's own,
//! removed with the channel) and clients connect by that path.
//!
//! What a process of ned's own uid can still do (open `/proc/<ned>/fd/N`,
//! or ptrace ned) is in docs/linux-mapping.md; the sandbox closes it.
//!
//! **Labels** (spec §11): before ned connects a client, it binds the
//! client's socket to a path in a fresh 0700 directory of its own whose
//! last component encodes the rights and cap name the client is started
//! with ([`Label`]), then removes the path and the directory (so no client
//! can bind a name beside its own for a later one). The server's
//! `getpeername()` on the accepted connection returns that path; no byte
//! is added to the stream, so a plain socket-activation server sees an
//! ordinary connection. Only ned can connect to a channel (it has no name
//! left), so every peer name a channel's server sees was written by ned;
//! `SO_PEERCRED` of such a connection names ned's pid, as ned made it. The
//! format is in docs/protocol.md under "Labels".

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::rights::Rights;

/// Errors of creating or connecting to a channel; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("failed to create the private directory of a channel in {dir}")]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create channel socket")]
    Create(#[source] std::io::Error),
    #[error("failed to connect to channel")]
    Connect(#[source] std::io::Error),
    #[error("the channel's server has not accepted its earlier clients and its backlog is full")]
    BacklogFull,
    #[error(
        "this channel was inherited as a server end without an address: ned can hand it to a \
         server, not connect clients to it"
    )]
    NoClients,
    #[error("this channel is a client of {0}: ned holds no server end to hand out")]
    NoServer(String),
}

/// What a channel's server learns about a client from its peer name: the
/// rights and the cap name the client was started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label<'a> {
    pub rights: Rights,
    /// The cap's name in the client's `LISTEN_FDNAMES`; empty for ned's
    /// own connections (a script's `create` forwarded to the server).
    pub name: &'a str,
}

/// The first bytes of a label's path component; the `1` is the format's
/// version.
const LABEL_PREFIX: &str = "ned1.";

impl Label<'_> {
    /// The last path component that carries the label (parsed by
    /// `ned_proto::parse_label`):
    /// `ned1.<rights in lowercase hex>.<name>`.
    pub fn component(&self) -> String {
        format!("{LABEL_PREFIX}{:x}.{}", self.rights.0, self.name)
    }
}

/// Backlog of a channel's listener (the kernel caps it at
/// `net.core.somaxconn`): clients started before their server wait there.
const BACKLOG: i32 = 4096;

/// How ned reaches a listener to connect a client.
#[derive(Debug)]
enum Door {
    /// The socket file, opened `O_PATH` after its name was removed.
    Node(OwnedFd),
    /// A path or abstract address; `dir` is ned's own directory holding the
    /// socket file (no `/proc`), removed with the channel.
    Addr {
        addr: SocketAddrUnix,
        dir: Option<PathBuf>,
    },
}

/// A channel's listening socket and ned's way to connect to it.
#[derive(Debug)]
pub struct Channel {
    /// `None` for a client of a socket path (`ned --cap NAME=PATH`).
    listener: Option<OwnedFd>,
    /// `None` for an inherited listener whose address is gone.
    door: Option<Door>,
}

impl Channel {
    /// A new channel that nobody but ned can connect to.
    ///
    /// Clients connect before the server accepts: the kernel keeps their
    /// connections (and first messages) in the backlog, so a client may be
    /// started before its server, as upstream configs do.
    pub fn new() -> Result<Channel, ChannelError> {
        let create = |e: Errno| ChannelError::Create(e.into());
        let dir = private_dir("ned", 2)?;
        let path = dir.join("s");
        let made = (|| {
            let sock = seqpacket()?;
            let addr = SocketAddrUnix::new(path.as_path())?;
            rustix::net::bind(&sock, &addr)?;
            rustix::net::listen(&sock, BACKLOG)?;
            let node = rustix::fs::open(
                path.as_path(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok((sock, addr, node))
        })();
        let (listener, addr, node) = match made {
            Ok(m) => m,
            Err(e) => {
                remove(&path, &dir);
                return Err(create(e));
            }
        };
        let listener = Some(listener);
        if rustix::fs::stat(proc_path(&node).as_str()).is_ok() {
            remove(&path, &dir);
            return Ok(Channel {
                listener,
                door: Some(Door::Node(node)),
            });
        }
        // No /proc: the path stays, in a directory only ned's uid can enter.
        Ok(Channel {
            listener,
            door: Some(Door::Addr {
                addr,
                dir: Some(dir),
            }),
        })
    }

    /// The channel behind a listening SEQPACKET socket ned was started with
    /// (what a parent ned passes for `svr()`). A parent ned's channel has
    /// no name left, so it can only be handed on to a server; a listener
    /// whose path or abstract name still answers also takes clients.
    pub fn adopt(listener: OwnedFd) -> Channel {
        let door = rustix::net::getsockname(&listener)
            .ok()
            .and_then(|a| SocketAddrUnix::try_from(a).ok())
            .filter(|a| match a.path() {
                Some(path) => rustix::fs::stat(path.as_ref())
                    .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_socket()),
                None => a.abstract_name().is_some_and(|n| !n.is_empty()),
            })
            .map(|addr| Door::Addr { addr, dir: None });
        Channel {
            listener: Some(listener),
            door,
        }
    }

    /// A client of whatever listens on the Unix socket `path` (`ned --cap
    /// NAME=PATH`): each grant connects anew; there is no server end.
    pub fn client_of(path: &Path) -> Result<Channel, ChannelError> {
        let addr = SocketAddrUnix::new(path).map_err(|e| ChannelError::Connect(e.into()))?;
        Ok(Channel {
            listener: None,
            door: Some(Door::Addr { addr, dir: None }),
        })
    }

    /// The listening socket (what a holder of `c` receives), if ned has it.
    pub fn listener(&self) -> Option<BorrowedFd<'_>> {
        self.listener.as_ref().map(AsFd::as_fd)
    }

    /// The listening socket for a holder of `c`.
    pub fn server_end(&self) -> Result<BorrowedFd<'_>, ChannelError> {
        self.listener().ok_or_else(|| {
            let shown = match &self.door {
                Some(Door::Addr { addr, .. }) => addr.path().map_or_else(String::new, |p| {
                    String::from_utf8_lossy(p.to_bytes()).into_owned()
                }),
                _ => String::new(),
            };
            ChannelError::NoServer(shown)
        })
    }

    /// A client connection, labelled with `label` when given (see the
    /// module doc). The connect is non-blocking: a listener whose backlog
    /// is full (a server that never accepts) fails at once instead of
    /// blocking ned; the socket is made blocking again before it is
    /// returned.
    pub fn connect(&self, label: Option<Label<'_>>) -> Result<OwnedFd, ChannelError> {
        let proc;
        let addr = match &self.door {
            Some(Door::Node(node)) => {
                proc = SocketAddrUnix::new(proc_path(node).as_str())
                    .map_err(|e| ChannelError::Connect(e.into()))?;
                &proc
            }
            Some(Door::Addr { addr, .. }) => addr,
            None => return Err(ChannelError::NoClients),
        };
        let Some(label) = label else {
            return connect_from(addr, None);
        };
        let leaf = label.component();
        let dir = private_dir("nedc", 1 + leaf.len())?;
        let result = connect_from(addr, Some(&dir.join(leaf)));
        let _ = rustix::fs::rmdir(&dir);
        result
    }
}

/// Connects a new socket to `addr`, bound first to `bind` when given (the
/// path is removed right after the bind: the socket keeps it as its name).
fn connect_from(addr: &SocketAddrUnix, bind: Option<&Path>) -> Result<OwnedFd, ChannelError> {
    let err = |e: Errno| ChannelError::Connect(e.into());
    let local = bind
        .map(|p| SocketAddrUnix::new(p).map_err(err))
        .transpose()?;
    // A socket path given on ned's command line may name a stream or
    // datagram socket: a SEQPACKET connect to it fails with EPROTOTYPE,
    // and the next type is tried.
    let mut last = Errno::PROTOTYPE;
    for ty in [SocketType::SEQPACKET, SocketType::STREAM, SocketType::DGRAM] {
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            ty,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(err)?;
        if let (Some(local), Some(path)) = (&local, bind) {
            let bound = rustix::net::bind(&sock, local);
            let _ = rustix::fs::unlink(path);
            bound.map_err(err)?;
        }
        match rustix::net::connect(&sock, addr) {
            Ok(()) => {
                rustix::fs::fcntl_setfl(&sock, OFlags::empty()).map_err(err)?;
                return Ok(sock);
            }
            Err(Errno::AGAIN) => return Err(ChannelError::BacklogFull),
            Err(Errno::PROTOTYPE) => last = Errno::PROTOTYPE,
            Err(e) => return Err(err(e)),
        }
    }
    Err(err(last))
}

impl Drop for Channel {
    fn drop(&mut self) {
        if let Some(Door::Addr { dir: Some(dir), .. }) = &self.door {
            remove(&dir.join("s"), dir);
        }
    }
}

/// A new close-on-exec Unix SOCK_SEQPACKET socket, the carrier of channels.
fn seqpacket() -> rustix::io::Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
}

fn proc_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn remove(path: &Path, dir: &Path) {
    let _ = rustix::fs::unlink(path);
    let _ = rustix::fs::rmdir(dir);
}

/// Longest socket path (`sun_path` holds 108 bytes with the final NUL).
const SUN_PATH_MAX: usize = 107;

/// A fresh directory `<prefix>-<pid>-<n>-<nanos>` of mode 0700 for one
/// socket file whose name takes `leaf` bytes with its slash, in the first
/// of `/dev/shm`, `$TMPDIR`, `/tmp`, `/run` where one can be made (a
/// `$TMPDIR` too long for a socket path is skipped): ned may be PID 1 of a
/// root file system without `/tmp`. A memory file system comes first: every
/// labelled connect makes and removes a directory and a name here, and on
/// a disk file system each is journal work (starting 2,000 channel clients
/// with the names in an ext4 `/tmp` took up to twice as long, waiting on
/// the disk). `mkdir` fails on any name that exists, symlinks included, so
/// a name someone else took is skipped, never used.
pub(crate) fn private_dir(prefix: &str, leaf: usize) -> Result<PathBuf, ChannelError> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let pid = rustix::process::getpid().as_raw_nonzero();
    let mut failed = None;
    let bases = [
        "/dev/shm".into(),
        std::env::temp_dir(),
        "/tmp".into(),
        "/run".into(),
    ];
    for base in bases {
        for _ in 0..64 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("{prefix}-{pid}-{n}-{nanos}"));
            if dir.as_os_str().len() + leaf > SUN_PATH_MAX {
                break;
            }
            match rustix::fs::mkdir(&dir, Mode::RWXU) {
                Ok(()) => return Ok(dir),
                Err(Errno::EXIST) => failed = Some((base.clone(), Errno::EXIST)),
                Err(e) => {
                    failed = Some((base.clone(), e));
                    break;
                }
            }
        }
    }
    let (dir, e) = failed.unwrap_or((PathBuf::from("/tmp"), Errno::NAMETOOLONG));
    Err(ChannelError::Dir {
        dir,
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_leaves_no_name_behind() {
        let ch = Channel::new().unwrap();
        let name = rustix::net::getsockname(ch.listener().unwrap()).unwrap();
        let name = SocketAddrUnix::try_from(name).unwrap();
        let path = name.path().expect("bound to a path");
        let path = Path::new(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.to_bytes()),
        );
        assert!(!path.exists(), "{} still exists", path.display());
        assert!(!path.parent().unwrap().exists());
        // ned itself still connects, before any accept.
        let client = ch.connect(None).unwrap();
        rustix::net::send(&client, b"x", rustix::net::SendFlags::empty()).unwrap();
        // Adopted, it has no address left to connect by.
        let dup = rustix::io::fcntl_dupfd_cloexec(ch.listener().unwrap(), 0).unwrap();
        let adopted = Channel::adopt(dup);
        assert!(matches!(
            adopted.connect(None),
            Err(ChannelError::NoClients)
        ));
    }

    fn peer_label(conn: &OwnedFd) -> Option<(Rights, String)> {
        let peer = rustix::net::getpeername(conn).unwrap()?;
        let peer = SocketAddrUnix::try_from(peer).unwrap();
        let path = peer.path()?.to_bytes().to_vec();
        ned_proto::parse_label(&path).map(|(r, n)| (Rights(r), n.to_owned()))
    }

    #[test]
    fn the_server_reads_each_clients_label_and_no_name_is_left() {
        let ch = Channel::new().unwrap();
        let rw = ch
            .connect(Some(Label {
                rights: Rights(5),
                name: "fs.main",
            }))
            .unwrap();
        let plain = ch.connect(None).unwrap();
        let flags = SocketFlags::CLOEXEC;
        let first = rustix::net::accept_with(ch.listener().unwrap(), flags).unwrap();
        let second = rustix::net::accept_with(ch.listener().unwrap(), flags).unwrap();
        assert_eq!(peer_label(&first), Some((Rights(5), "fs.main".into())));
        assert_eq!(peer_label(&second), None);
        // The name the client holds points at nothing: its file and
        // directory are gone, so no one can connect to it or bind there.
        let own = rustix::net::getsockname(&rw).unwrap();
        let own = SocketAddrUnix::try_from(own).unwrap();
        let own = own.path().unwrap();
        let own = Path::new(
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(own.to_bytes()),
        );
        assert!(!own.parent().unwrap().exists(), "{}", own.display());
        drop(plain);
    }

    #[test]
    fn a_label_component_parses_back() {
        let l = Label {
            rights: Rights(0x27),
            name: "a.b-c",
        };
        let path = format!("/tmp/nedc-1-2-3/{}", l.component());
        assert_eq!(
            ned_proto::parse_label(path.as_bytes()),
            Some((0x27, "a.b-c"))
        );
    }
}
