//! Readiness notification: the sd_notify protocol (`NOTIFY_SOCKET`).
//!
//! A task started with `notify = true` (or `watchdog = ms`) gets
//! `NOTIFY_SOCKET`, the path of one datagram socket per ned, bound as `n`
//! in a fresh 0700 directory of ned's (the one channels use, see
//! [`crate::channel`]), so only processes of ned's uid can reach it. The
//! socket has `SO_PASSCRED`: the kernel attaches the sender's pid to each
//! datagram and ned credits the datagram to the task with that pid, or
//! whose `MAINPID=` named it. Anything else — a stranger, a process in
//! another pid namespace (pid 0), a truncated datagram — is ignored and
//! counted ([`Notify::strangers`]); the first one is reported.
//!
//! Understood lines: `READY=1`, `STOPPING=1`, `STATUS=text`, `MAINPID=n`,
//! `WATCHDOG=1` (a ping), `WATCHDOG=trigger` (fail the watchdog now) and
//! `BARRIER=1`, whose fd ned closes, which is the answer
//! `systemd-notify` waits for. Descriptors sent with any datagram are
//! closed at once. A flood costs at most [`PER_TURN`] datagrams per turn of
//! the loop; the kernel's queue limit makes the senders wait.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

use crate::supervisor::TaskId;

/// Datagrams read per turn of the loop at most, so that a flood cannot keep
/// ned from its other sources (the socket stays readable; the next turn
/// reads on).
pub const PER_TURN: usize = 256;

/// Longest datagram read; the rest of a longer one is cut and the datagram
/// ignored (sd_notify messages are a few lines).
const MAX_DATAGRAM: usize = 4096;

/// One understood line of a notify datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Ready,
    Stopping,
    Status(String),
    MainPid(i32),
    Watchdog,
    WatchdogTrigger,
}

/// The lines of a datagram ned acts on; unknown or malformed lines are
/// skipped (sd_notify(3) lets managers ignore what they do not know).
pub fn parse(data: &[u8]) -> Vec<Msg> {
    let mut out = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        let Some(eq) = line.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, value) = (&line[..eq], &line[eq + 1..]);
        let msg = match (key, value) {
            (b"READY", b"1") => Msg::Ready,
            (b"STOPPING", b"1") => Msg::Stopping,
            (b"WATCHDOG", b"1") => Msg::Watchdog,
            (b"WATCHDOG", b"trigger") => Msg::WatchdogTrigger,
            (b"STATUS", v) => Msg::Status(String::from_utf8_lossy(v).into_owned()),
            (b"MAINPID", v) => match std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()) {
                Some(pid) if pid > 0 => Msg::MainPid(pid),
                _ => continue,
            },
            _ => continue,
        };
        out.push(msg);
    }
    out
}

/// What ned knows of one task's notifications.
#[derive(Debug)]
pub struct Entry {
    pid: i32,
    main_pid: Option<i32>,
    pub ready: bool,
    pub stopping: bool,
    pub status: Option<String>,
    watchdog: Option<Duration>,
    last_ping: Instant,
}

/// What a turn of the socket changed that the loop must act on.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// The task sent its first `READY=1`.
    Ready(TaskId),
    /// The task asked for its watchdog to fail now.
    Trigger(TaskId),
}

/// What a watchdog check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Watch {
    /// No watchdog (any more): nothing to do.
    Off,
    /// Pinged in time: check again then.
    Again(Instant),
    /// Missed by this much: the task is to be killed.
    Missed(Duration),
}

/// The socket file and its private directory, removed on drop.
struct Sock {
    fd: OwnedFd,
    dir: PathBuf,
    path: PathBuf,
}

impl Drop for Sock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// ned's notify socket (made at the first task that needs it) and the
/// state of every task that may notify.
#[derive(Default)]
pub struct Notify {
    sock: Option<Sock>,
    tasks: HashMap<TaskId, Entry>,
    by_pid: HashMap<i32, TaskId>,
    strangers: u64,
}

impl Notify {
    /// The socket's fd if it was made.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.sock.as_ref().map(|s| s.fd.as_fd())
    }

    /// Makes the socket if needed; returns `NOTIFY_SOCKET=<path>` and, when
    /// the socket is new, its fd for the reactor.
    pub fn open(&mut self) -> io::Result<(CString, Option<BorrowedFd<'_>>)> {
        let fresh = self.sock.is_none();
        if fresh {
            self.sock = Some(bind()?);
        }
        let sock = self.sock.as_ref().ok_or(io::ErrorKind::NotFound)?;
        let mut var = b"NOTIFY_SOCKET=".to_vec();
        var.extend_from_slice(sock.path.as_os_str().as_encoded_bytes());
        let var = CString::new(var).map_err(|_| io::ErrorKind::InvalidInput)?;
        Ok((var, fresh.then(|| sock.fd.as_fd())))
    }

    /// Starts crediting datagrams from `pid` to `id`.
    pub fn register(&mut self, id: TaskId, pid: i32, watchdog: Option<Duration>) {
        self.by_pid.insert(pid, id);
        self.tasks.insert(
            id,
            Entry {
                pid,
                main_pid: None,
                ready: false,
                stopping: false,
                status: None,
                watchdog,
                last_ping: Instant::now(),
            },
        );
    }

    /// The task ended: its pids are credited no more.
    pub fn forget(&mut self, id: TaskId) {
        if let Some(e) = self.tasks.remove(&id) {
            for pid in [Some(e.pid), e.main_pid].into_iter().flatten() {
                if self.by_pid.get(&pid) == Some(&id) {
                    self.by_pid.remove(&pid);
                }
            }
        }
    }

    pub fn entry(&self, id: TaskId) -> Option<&Entry> {
        self.tasks.get(&id)
    }

    /// Datagrams ignored so far: from strangers, or cut.
    pub fn strangers(&self) -> u64 {
        self.strangers
    }

    /// Reads up to [`PER_TURN`] datagrams and applies them.
    pub fn receive(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        // Out of `self` while datagrams are applied to the entries.
        let Some(sock) = self.sock.take() else {
            return changes;
        };
        let mut data = [0u8; MAX_DATAGRAM];
        let mut space =
            [MaybeUninit::uninit(); rustix::cmsg_space!(ScmCredentials(1), ScmRights(16))];
        for _ in 0..PER_TURN {
            let mut cmsg = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut data)];
            let got = match rustix::net::recvmsg(
                &sock.fd,
                &mut iov,
                &mut cmsg,
                RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
            ) {
                Ok(m) => m,
                Err(Errno::AGAIN) => break,
                Err(Errno::INTR) => continue,
                Err(e) => {
                    crate::diag!("ned: failed to read the notify socket: {e}");
                    break;
                }
            };
            let mut sender = None;
            // Descriptors (BARRIER=1, FDSTORE=1) are dropped, i.e. closed,
            // here: for a barrier that is the answer its sender waits for.
            for m in cmsg.drain() {
                if let RecvAncillaryMessage::ScmCredentials(c) = m {
                    sender = Some(c.pid.as_raw_nonzero().get());
                }
            }
            let cut = got.flags.contains(rustix::net::ReturnFlags::TRUNC)
                || got.flags.contains(rustix::net::ReturnFlags::CTRUNC);
            let credited = sender.and_then(|pid| self.by_pid.get(&pid).copied());
            let len = got.bytes.min(data.len());
            // A lone barrier carries no state: closing its fd (above) was
            // the whole answer, whoever sent it (systemd-notify sends it
            // from its own pid after a message sent as its parent's).
            if credited.is_none() && !cut && &data[..len] == b"BARRIER=1" {
                continue;
            }
            match (credited, cut) {
                (Some(id), false) => {
                    self.apply(id, sender.unwrap_or(0), &data[..len], &mut changes);
                }
                _ => self.stranger(sender),
            }
        }
        self.sock = Some(sock);
        changes
    }

    fn stranger(&mut self, pid: Option<i32>) {
        if self.strangers == 0 {
            let who = pid.map_or("a sender without credentials".to_owned(), |p| {
                format!("pid {p}, which is no notifying task")
            });
            crate::diag!(
                "ned: ignoring a notify datagram from {who} (further ones are counted only)"
            );
        }
        self.strangers += 1;
    }

    fn apply(&mut self, id: TaskId, sender: i32, data: &[u8], changes: &mut Vec<Change>) {
        let Some(e) = self.tasks.get_mut(&id) else {
            return;
        };
        for msg in parse(data) {
            match msg {
                Msg::Ready => {
                    if !e.ready {
                        e.ready = true;
                        changes.push(Change::Ready(id));
                    }
                }
                Msg::Stopping => e.stopping = true,
                Msg::Status(s) => e.status = Some(s),
                Msg::MainPid(pid) => {
                    // Only the task itself may name its main process, as
                    // systemd's NotifyAccess=main has it.
                    if sender != e.pid && Some(sender) != e.main_pid {
                        continue;
                    }
                    if let Some(old) = e.main_pid.replace(pid)
                        && old != e.pid
                        && self.by_pid.get(&old) == Some(&id)
                    {
                        self.by_pid.remove(&old);
                    }
                    self.by_pid.entry(pid).or_insert(id);
                }
                Msg::Watchdog => {
                    // The pending check reschedules itself from the last
                    // ping, so a flood of pings arms nothing.
                    if e.watchdog.is_some() {
                        e.last_ping = Instant::now();
                    }
                }
                Msg::WatchdogTrigger => {
                    if e.watchdog.is_some() {
                        changes.push(Change::Trigger(id));
                    }
                }
            }
        }
    }

    /// Whether task `id` pinged its watchdog in time.
    pub fn check(&mut self, id: TaskId, now: Instant) -> Watch {
        let Some(e) = self.tasks.get_mut(&id) else {
            return Watch::Off;
        };
        let Some(t) = e.watchdog else {
            return Watch::Off;
        };
        let due = e.last_ping + t;
        if due > now {
            return Watch::Again(due);
        }
        e.watchdog = None;
        Watch::Missed(now - due)
    }

    /// Turns the task's watchdog off (it failed, and is being killed).
    pub fn disarm(&mut self, id: TaskId) {
        if let Some(e) = self.tasks.get_mut(&id) {
            e.watchdog = None;
        }
    }
}

/// A non-blocking datagram socket with `SO_PASSCRED`, bound in a fresh
/// private directory.
fn bind() -> io::Result<Sock> {
    let dir = crate::channel::private_dir("ned", 2).map_err(io::Error::other)?;
    let path = dir.join("n");
    let made = (|| {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        rustix::net::sockopt::set_socket_passcred(&fd, true)?;
        rustix::net::bind(&fd, &SocketAddrUnix::new(&path)?)?;
        Ok::<_, Errno>(fd)
    })();
    match made {
        Ok(fd) => Ok(Sock { fd, dir, path }),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_dir(&dir);
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_known_lines_and_skips_the_rest() {
        let msgs = parse(b"READY=1\nSTATUS=up: 3 clients\nMAINPID=42\nWATCHDOG=1\nX=1\nnoeq\nMAINPID=-1\nMAINPID=x\nSTOPPING=1\nWATCHDOG=trigger\nREADY=0");
        assert_eq!(
            msgs,
            vec![
                Msg::Ready,
                Msg::Status("up: 3 clients".into()),
                Msg::MainPid(42),
                Msg::Watchdog,
                Msg::Stopping,
                Msg::WatchdogTrigger,
            ]
        );
        assert_eq!(parse(b""), vec![]);
        assert_eq!(parse(b"STATUS=\xff"), vec![Msg::Status("\u{fffd}".into())]);
    }

    fn send(path: &std::path::Path, data: &[u8]) {
        let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
        s.send_to(data, path).unwrap();
    }

    fn path(n: &Notify) -> PathBuf {
        n.sock.as_ref().unwrap().path.clone()
    }

    #[test]
    fn datagrams_are_credited_by_pid_and_strangers_counted() {
        let mut n = Notify::default();
        let (var, fd) = n.open().unwrap();
        assert!(fd.is_some());
        assert!(var.to_str().unwrap().starts_with("NOTIFY_SOCKET=/"));
        assert!(n.open().unwrap().1.is_none(), "one socket per ned");
        let p = path(&n);
        // Nobody is registered: this process is a stranger.
        send(&p, b"READY=1");
        assert_eq!(n.receive(), vec![]);
        assert_eq!(n.strangers(), 1);
        let me = rustix::process::getpid().as_raw_nonzero().get();
        n.register(TaskId(7), me, None);
        send(&p, b"STATUS=warming up");
        send(&p, b"READY=1");
        send(&p, b"READY=1");
        assert_eq!(n.receive(), vec![Change::Ready(TaskId(7))], "ready once");
        let e = n.entry(TaskId(7)).unwrap();
        assert!(e.ready);
        assert_eq!(e.status.as_deref(), Some("warming up"));
        n.forget(TaskId(7));
        send(&p, b"READY=1");
        assert_eq!(n.receive(), vec![]);
        assert_eq!(n.strangers(), 2);
        drop(n);
        assert!(
            !p.exists() && !p.parent().unwrap().exists(),
            "name left behind"
        );
    }

    #[test]
    fn mainpid_moves_the_credit_and_the_watchdog_counts_pings() {
        let mut n = Notify::default();
        n.open().unwrap();
        let p = path(&n);
        let me = rustix::process::getpid().as_raw_nonzero().get();
        // The task is some other pid; only it may name a main pid, so a
        // MAINPID from a stranger changes nothing.
        n.register(TaskId(1), 1, Some(Duration::from_secs(60)));
        send(&p, format!("MAINPID={me}").as_bytes());
        assert_eq!(n.receive(), vec![]);
        assert_eq!(n.strangers(), 1);
        // As the task itself (pid registered as ours) naming pid 1 as main.
        n.register(TaskId(2), me, Some(Duration::from_millis(50)));
        send(&p, b"MAINPID=12345\nWATCHDOG=1\nWATCHDOG=trigger");
        assert_eq!(n.receive(), vec![Change::Trigger(TaskId(2))]);
        let now = Instant::now();
        assert!(matches!(n.check(TaskId(2), now), Watch::Again(_)));
        let later = now + Duration::from_secs(1);
        assert!(matches!(n.check(TaskId(2), later), Watch::Missed(_)));
        assert_eq!(n.check(TaskId(2), later), Watch::Off, "fails once");
        assert_eq!(n.by_pid.get(&12345), Some(&TaskId(2)));
    }
}
