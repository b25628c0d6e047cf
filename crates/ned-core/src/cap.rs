//! Capabilities: a rights mask over a shared kernel object, and the one file
//! descriptor that carries that object on Linux.
//!
//! Every object a script can name lives behind an `Arc<Object>`; a [`Cap`] is a
//! reference to it with its own rights. When a task is started, [`Cap::grant`]
//! turns a cap into the descriptor the task receives, enforcing the rights on
//! that descriptor (see docs/linux-mapping.md for the table).

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ned_path::{Beneath, BeneathError};
use rustix::fs::{Mode, OFlags};

use crate::channel::{Channel, ChannelError, Label};
use crate::log::Color;
use crate::object::{Charge, Quota};
use crate::rights::Rights;
use crate::socket::{Protocol, Socket, UnixType};

/// Errors of capability operations; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum CapError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("failed to open '{path}'")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create dataspace of {size} bytes")]
    Dataspace {
        size: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to create eventfd")]
    Eventfd(#[source] std::io::Error),
    #[error("failed to reopen dataspace read-only")]
    Reopen(#[source] std::io::Error),
    #[error(
        "failed to reopen dataspace read-only: Linux reopens a memfd with fewer rights only \
         through /proc/self/fd, and /proc is not mounted (grant it with 'w', or mount /proc)"
    )]
    ReopenNeedsProc,
    #[error("'{0}' is neither a directory, a regular file nor a Unix socket")]
    PathKind(PathBuf),
    #[error("{0} is not supported on Linux")]
    Unsupported(&'static str),
    /// A served kind has no descriptor of its own: the supervisor connects
    /// the task to ned's object service instead (see [`Kind::is_served`]).
    #[error("a {0} is granted through ned's object service")]
    Served(Kind),
    #[error("failed to inspect inherited fd")]
    Inspect(#[source] std::io::Error),
    #[error("failed to duplicate a socket")]
    Dup(#[source] std::io::Error),
    #[error("inherited fd is {0}, which ned has no capability type for")]
    NotAdoptable(&'static str),
    /// A name looked up in a directory cap (see [`Cap::query_file`]).
    #[error(transparent)]
    Lookup(#[from] BeneathError),
}

/// The dynamic type of an object, as scripts see it in `tostring` and `L4.cast`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Channel,
    Namespace,
    Factory,
    Dataspace,
    Log,
    Scheduler,
    Semaphore,
    Irq,
    Directory,
    File,
    Rm,
    Parent,
    Socket,
}

impl Kind {
    /// The L4 name of the type (`L4::Cap<Name>`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Channel => "Ipc_gate",
            Kind::Namespace => "Namespace",
            Kind::Factory => "Factory",
            Kind::Dataspace => "Dataspace",
            Kind::Log => "Log",
            Kind::Scheduler => "Scheduler",
            Kind::Semaphore => "Semaphore",
            Kind::Irq => "Irq_sender",
            Kind::Directory => "Directory",
            Kind::File => "File",
            Kind::Rm => "Rm",
            Kind::Parent => "Parent",
            Kind::Socket => "Socket",
        }
    }
}

impl Kind {
    /// Kinds that live inside ned and reach a task as a connection to its
    /// object service (docs/protocol.md).
    pub fn is_served(self) -> bool {
        matches!(
            self,
            Kind::Namespace | Kind::Factory | Kind::Scheduler | Kind::Rm | Kind::Parent
        )
    }

    /// The kind code of the object protocol.
    pub fn code(self) -> u16 {
        ned_proto::kind_code(self.name()).unwrap_or(0)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kernel object and the Linux resource behind it.
#[derive(Debug)]
pub enum Object {
    /// A SOCK_SEQPACKET listener that only ned can connect clients to.
    Channel(Channel),
    /// A directory opened O_PATH, with the host path programs are executed from.
    Directory {
        fd: OwnedFd,
        path: PathBuf,
    },
    /// A file opened O_PATH.
    File {
        fd: OwnedFd,
        path: PathBuf,
    },
    /// A memfd of a fixed size, and the quota bytes it holds, if any.
    Dataspace {
        fd: OwnedFd,
        size: u64,
        charge: Option<Charge>,
    },
    Semaphore(OwnedFd),
    Irq(OwnedFd),
    /// A log sink: `None` is ned's own console, otherwise a tag and colour.
    Log(Option<(String, Color)>),
    /// A factory (`factory`, `mem_alloc`, `user_factory` are one object
    /// each), with the byte quota its products share, if it has one.
    Factory(Option<Arc<Quota>>),
    /// A scheduler proxy: priority range and CPU set (`None` = all CPUs).
    Scheduler {
        prio_limit: i64,
        prio_base: i64,
        cpus: Option<Vec<usize>>,
    },
    /// A name space held in ned; children reach it through ned's object service.
    Namespace(Mutex<BTreeMap<String, Cap>>),
    Rm,
    Parent,
    /// A TCP, UDP or Unix socket (`L4.socket`, or inherited), passed as is.
    Socket(Socket),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Channel(_) => Kind::Channel,
            Object::Directory { .. } => Kind::Directory,
            Object::File { .. } => Kind::File,
            Object::Dataspace { .. } => Kind::Dataspace,
            Object::Semaphore(_) => Kind::Semaphore,
            Object::Irq(_) => Kind::Irq,
            Object::Log(_) => Kind::Log,
            Object::Factory(_) => Kind::Factory,
            Object::Scheduler { .. } => Kind::Scheduler,
            Object::Namespace(_) => Kind::Namespace,
            Object::Rm => Kind::Rm,
            Object::Parent => Kind::Parent,
            Object::Socket(_) => Kind::Socket,
        }
    }

    /// Whether dropping the object does nothing but close its descriptor
    /// (and give its quota back): what a process that exits anyway may
    /// leave to the kernel. A channel, say, also removes its socket file.
    pub fn is_descriptor_only(&self) -> bool {
        matches!(
            self,
            Object::Dataspace { .. }
                | Object::Semaphore(_)
                | Object::Irq(_)
                | Object::File { .. }
                | Object::Directory { .. }
        )
    }

    /// The descriptor that carries the object inside ned, if there is one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Object::Channel(ch) => ch.listener(),
            Object::Directory { fd, .. }
            | Object::File { fd, .. }
            | Object::Dataspace { fd, .. }
            | Object::Semaphore(fd)
            | Object::Irq(fd) => Some(fd.as_fd()),
            Object::Socket(s) => Some(s.fd()),
            _ => None,
        }
    }

    /// A new channel (see [`crate::channel`]): clients may be started
    /// before the server, their connections wait in the backlog.
    pub fn channel() -> Result<Object, CapError> {
        Ok(Object::Channel(Channel::new()?))
    }

    /// The object a host path names (`ned --cap NAME=PATH`): a directory,
    /// a regular file, or a Unix socket, which becomes a channel client.
    pub fn from_path(path: &Path) -> Result<Object, CapError> {
        let open_err = |e: rustix::io::Errno| CapError::Open {
            path: path.to_path_buf(),
            source: e.into(),
        };
        let path = std::path::absolute(path).map_err(|e| CapError::Open {
            path: path.to_path_buf(),
            source: e,
        })?;
        let stat = rustix::fs::stat(&path).map_err(open_err)?;
        match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
            rustix::fs::FileType::Directory => Object::directory(&path),
            rustix::fs::FileType::RegularFile => Ok(Object::File {
                fd: open_path(&path, OFlags::empty())?,
                path,
            }),
            rustix::fs::FileType::Socket => Ok(Object::Channel(Channel::client_of(&path)?)),
            _ => Err(CapError::PathKind(path)),
        }
    }

    /// Opens `path` as a directory object.
    pub fn directory(path: &Path) -> Result<Object, CapError> {
        let fd = open_path(path, OFlags::DIRECTORY)?;
        Ok(Object::Directory {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// A zero-filled memfd of `size` bytes.
    pub fn dataspace(size: u64) -> Result<Object, CapError> {
        Object::dataspace_charged(size, None)
    }

    /// A zero-filled memfd of `size` bytes holding `charge` of a quota.
    pub fn dataspace_charged(size: u64, charge: Option<Charge>) -> Result<Object, CapError> {
        let err = |e: rustix::io::Errno| CapError::Dataspace {
            size,
            source: e.into(),
        };
        let fd = rustix::fs::memfd_create(
            "ned-dataspace",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(err)?;
        rustix::fs::ftruncate(&fd, size).map_err(err)?;
        Ok(Object::Dataspace { fd, size, charge })
    }

    /// An eventfd-backed semaphore (or IRQ when `irq`).
    pub fn event(irq: bool) -> Result<Object, CapError> {
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::SEMAPHORE,
        )
        .map_err(|e| CapError::Eventfd(e.into()))?;
        Ok(if irq {
            Object::Irq(fd)
        } else {
            Object::Semaphore(fd)
        })
    }

    /// The object behind a descriptor ned was started with (`LISTEN_FDS`):
    /// a listening Unix SEQPACKET socket is a channel (what a parent ned
    /// passes for `svr()`), every other socket a socket cap, a directory a
    /// directory, a memfd a dataspace, an eventfd a semaphore, a regular
    /// file a file.
    pub fn adopt(fd: OwnedFd) -> Result<Object, CapError> {
        let inspect = |e: rustix::io::Errno| CapError::Inspect(e.into());
        let stat = rustix::fs::fstat(&fd).map_err(inspect)?;
        let link = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .unwrap_or_default();
        let link_text = link.to_string_lossy();
        match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
            rustix::fs::FileType::Socket => {
                let sock = Socket::inspect(fd).map_err(inspect)?;
                if !(sock.protocol() == Protocol::Unix(UnixType::Seqpacket) && sock.listening()) {
                    return Ok(Object::Socket(sock));
                }
                Ok(Object::Channel(Channel::adopt(sock.into_fd())))
            }
            rustix::fs::FileType::Directory => Ok(Object::Directory { fd, path: link }),
            rustix::fs::FileType::RegularFile if link_text.starts_with("/memfd:") => {
                Ok(Object::Dataspace {
                    fd,
                    size: stat.st_size as u64,
                    charge: None,
                })
            }
            rustix::fs::FileType::RegularFile => Ok(Object::File { fd, path: link }),
            _ if link_text == "anon_inode:[eventfd]" => Ok(Object::Semaphore(fd)),
            _ => Err(CapError::NotAdoptable("of a kind (pipe, device, ...)")),
        }
    }

    pub fn namespace() -> Object {
        Object::Namespace(Mutex::new(BTreeMap::new()))
    }
}

fn open_path(path: &Path, extra: OFlags) -> Result<OwnedFd, CapError> {
    rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC | extra, Mode::empty()).map_err(|e| {
        CapError::Open {
            path: path.to_path_buf(),
            source: e.into(),
        }
    })
}

/// Upstream's limit on capability names.
pub const MAX_CAP_NAME: usize = 16;

/// Why a capability name cannot name a cap of a task (or of ned).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Upstream's wording.
    #[error("Capability name '{0}' too long")]
    TooLong(String),
    #[error("Capability name '{0}' is invalid")]
    Invalid(String),
}

/// Checks a cap name: at most [`MAX_CAP_NAME`] bytes, not empty, none of
/// `:` (it separates `LISTEN_FDNAMES`), `=`, `/` or NUL.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.len() > MAX_CAP_NAME {
        return Err(NameError::TooLong(name.to_owned()));
    }
    if name.is_empty() || name.contains([':', '\0', '=', '/']) {
        return Err(NameError::Invalid(name.to_owned()));
    }
    Ok(())
}

/// A reference to an object with a rights mask.
#[derive(Clone, Debug)]
pub struct Cap {
    pub object: Arc<Object>,
    pub rights: Rights,
}

/// The descriptor a task receives for one granted cap: ned's own descriptor,
/// or one made for this task alone (a fresh connection, a read-only reopen).
pub enum Granted<'a> {
    Shared(BorrowedFd<'a>),
    Own(OwnedFd),
}

impl Granted<'_> {
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Granted::Shared(fd) => *fd,
            Granted::Own(fd) => fd.as_fd(),
        }
    }
}

impl Cap {
    pub fn new(object: Object, rights: Rights) -> Cap {
        Cap {
            object: Arc::new(object),
            rights,
        }
    }

    pub fn kind(&self) -> Kind {
        self.object.kind()
    }

    /// The same object with other rights.
    pub fn with_rights(&self, rights: Rights) -> Cap {
        Cap {
            object: Arc::clone(&self.object),
            rights,
        }
    }

    /// Two caps are equal when they name the same object, whatever their rights.
    pub fn same_object(&self, other: &Cap) -> bool {
        Arc::ptr_eq(&self.object, &other.object)
    }

    /// The directory a cap names, to look names up in without leaving it;
    /// `what` is what the directory is to the user ("rom directory").
    pub fn beneath<'a>(&'a self, what: &'a str) -> Option<Beneath<'a>> {
        match &*self.object {
            Object::Directory { fd, path } => Some(Beneath::new(fd.as_fd(), path, what)),
            _ => None,
        }
    }

    /// The file or directory `name` inside a directory cap
    /// (`rom:query("x")`), read-only; `None` when there is no such name (or
    /// the cap is no directory). A name that leaves the directory, through
    /// `..` or a symlink, is an error naming both.
    pub fn query_file(&self, name: &str) -> Result<Option<Cap>, CapError> {
        let Some(dir) = self.beneath("directory") else {
            return Ok(None);
        };
        let fd = match dir.open(name, OFlags::PATH) {
            Ok(fd) => fd,
            Err(BeneathError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let full = dir.path().join(name);
        let stat = rustix::fs::fstat(&fd).map_err(|e| CapError::Open {
            path: full.clone(),
            source: e.into(),
        })?;
        let object = if rustix::fs::FileType::from_raw_mode(stat.st_mode).is_dir() {
            Object::Directory { fd, path: full }
        } else {
            Object::File { fd, path: full }
        };
        Ok(Some(Cap::new(object, Rights::READ)))
    }

    /// The host path a program cap is executed from.
    pub fn host_path(&self) -> Option<&Path> {
        match &*self.object {
            Object::Directory { path, .. } | Object::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// A socket of this cap that ned itself may use (Lunatik's
    /// `socket.from`), as a task would be granted it: a channel's listening
    /// end with `c`, else a fresh connection to it; a socket cap's socket.
    /// `None` for caps that are not sockets.
    pub fn socket(&self) -> Option<Result<OwnedFd, CapError>> {
        let dup = |fd: BorrowedFd<'_>| fd.try_clone_to_owned().map_err(CapError::Dup);
        match &*self.object {
            Object::Channel(ch) if self.rights.has(Rights::C) => {
                Some(ch.server_end().map_err(CapError::from).and_then(dup))
            }
            Object::Channel(ch) => Some(
                ch.connect(Some(Label {
                    rights: self.rights,
                    name: "",
                }))
                .map_err(CapError::from),
            ),
            Object::Socket(s) => Some(dup(s.fd())),
            _ => None,
        }
    }

    /// Makes the descriptor a task receives for this cap under `name`,
    /// enforcing the rights.
    pub fn grant(&self, name: &str) -> Result<Granted<'_>, CapError> {
        match &*self.object {
            // A client may call with `r` alone, as an L4 invocation needs
            // no more (spec §5): its connection is never shut for writing.
            Object::Channel(ch) if self.rights.has(Rights::C) => {
                Ok(Granted::Shared(ch.server_end()?))
            }
            // The server learns the client's rights and cap name from the
            // connection's peer name (crate::channel, "Labels").
            Object::Channel(ch) => Ok(Granted::Own(ch.connect(Some(Label {
                rights: self.rights,
                name,
            }))?)),
            Object::Directory { fd, path } => {
                // Directories are handed out readable so `openat` and
                // `getdents` work; write protection of the files inside needs
                // the sandbox (see docs/linux-mapping.md). Reopened through
                // ned's own descriptor (`.` of it), not the path: the task
                // gets the very directory the cap was made from.
                rustix::fs::openat(
                    fd,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map(Granted::Own)
                .map_err(|e| CapError::Open {
                    path: path.clone(),
                    source: e.into(),
                })
            }
            Object::File { path, .. } => {
                let flags = if self.rights.has(Rights::W) {
                    OFlags::RDWR
                } else {
                    OFlags::RDONLY
                };
                Ok(Granted::Own(reopen(path, flags)?))
            }
            Object::Dataspace { fd, .. } => {
                if self.rights.has(Rights::W) {
                    return Ok(Granted::Shared(fd.as_fd()));
                }
                // A read-only open of the memfd through procfs: the task can
                // neither write, truncate nor map it writable. Mode 0444
                // keeps a task of another uid than root from reopening it
                // read-write through its own /proc/self/fd/N (read-write
                // fds already open keep working; docs/rights.md).
                rustix::fs::fchmod(fd, Mode::from_raw_mode(0o444))
                    .map_err(|e| CapError::Reopen(e.into()))?;
                let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(fd));
                rustix::fs::open(
                    proc.as_str(),
                    OFlags::RDONLY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map(Granted::Own)
                .map_err(|e| match e {
                    rustix::io::Errno::NOENT => CapError::ReopenNeedsProc,
                    e => CapError::Reopen(e.into()),
                })
            }
            Object::Semaphore(fd) | Object::Irq(fd) => {
                if !self.rights.has(Rights::W) {
                    warn_unenforced_signal(name, self.kind());
                }
                Ok(Granted::Shared(fd.as_fd()))
            }
            // The socket itself, whatever the rights: a second open file of
            // a socket cannot be made, and shutdown() would act on ned's
            // copy too (docs/linux-mapping.md).
            Object::Socket(s) => Ok(Granted::Shared(s.fd())),
            // ned's own console, for `log = L4.Env.log`-style grants.
            Object::Log(None) => Ok(Granted::Shared(rustix::stdio::stdout())),
            // A tagged log is a pipe the supervisor opens; the rest are served.
            other => Err(CapError::Served(other.kind())),
        }
    }
}

/// Linux has no read-only eventfd (a reopen through /proc fails with
/// ENXIO, checked on 6.18), so a semaphore or irq granted without `w` can
/// still be signalled by its task: said once per ned run, not silently
/// ignored (docs/rights.md).
fn warn_unenforced_signal(name: &str, kind: Kind) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        crate::diag!(
            "ned: warning: {kind} cap '{name}' is granted without 'w', but Linux cannot make an \
             eventfd read-only: the task can still signal it (docs/rights.md)"
        );
    }
}

fn reopen(path: &Path, flags: OFlags) -> Result<OwnedFd, CapError> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::empty()).map_err(|e| CapError::Open {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Object::Socket(s) = &*self.object {
            write!(
                f,
                "L4::Cap<{}>[fd {} {}",
                self.kind(),
                std::os::fd::AsRawFd::as_raw_fd(&s.fd()),
                s.protocol()
            )?;
            if let Some(addr) = s.address() {
                write!(f, " {addr}")?;
            }
            let listening = if s.listening() { " listening" } else { "" };
            return write!(f, "{listening}] r=0x{:x}", self.rights.0);
        }
        match self.object.fd() {
            Some(fd) => write!(
                f,
                "L4::Cap<{}>[fd {}] r=0x{:x}",
                self.kind(),
                std::os::fd::AsRawFd::as_raw_fd(&fd),
                self.rights.0
            ),
            None => write!(f, "L4::Cap<{}>[ned] r=0x{:x}", self.kind(), self.rights.0),
        }
    }
}
