//! The remote command interface (spec §13; wire format in docs/prompt.md):
//! length-prefixed frames over Unix SOCK_SEQPACKET connections, served
//! without ever blocking ned.
//!
//! Sources are listeners (a channel's server end for `L4.server_loop`, or
//! the socket path of `ned --control`) and their accepted clients, each a
//! [`Token`] of the one reactor. A client has at most one request waiting
//! for the script layer: while one waits, its socket leaves the epoll set,
//! so a client that floods requests is held back by its own socket buffer,
//! not by ned's memory. Replies go into a bounded buffer per client and are
//! written as the socket takes them; a client that lets [`OUT_LIMIT`] pile up
//! is dropped with a logged line. Nothing here knows about Lua: the
//! supervisor queues an `Event::Command` per complete request and the
//! script layer takes the chunk, runs it and hands the reply back.
//!
//! A request whose declared length exceeds [`MAX_CHUNK`] is read and thrown
//! away, and answered with an error; bytes that are no frame (an unknown
//! kind) get an error reply and the connection is closed, since nothing
//! after them can be trusted to start a frame.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use crate::reactor::{Reactor, Token};

/// Frame kinds (the first byte of every frame).
pub const REQUEST: u8 = b'Q';
pub const CANCEL: u8 = b'C';
pub const REPLY: u8 = b'R';
/// Kind byte and 32-bit little-endian payload length.
pub const HEADER: usize = 5;
/// Largest chunk ned runs (16 MiB); a larger request is discarded and
/// answered with [`E2BIG`].
pub const MAX_CHUNK: usize = 16 << 20;
/// Longest reply text (1 MiB); longer results are cut and marked.
pub const MAX_REPLY: usize = 1 << 20;
/// Reply bytes a client may leave unread before it is dropped.
pub const OUT_LIMIT: usize = 4 * MAX_REPLY;
/// Largest SEQPACKET message either side sends; frames span messages.
pub const MAX_MESSAGE: usize = 64 << 10;
/// Connected clients at once; more are refused with a logged line.
pub const MAX_CLIENTS: usize = 1024;

/// Reply statuses besides 0 and the spec's -22 / -5.
pub const E2BIG: i32 = -7;
pub const EPROTO: i32 = -71;

/// Errors of setting up a control socket path.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("another ned is serving this socket; refusing to take it over")]
    Live,
    #[error("the path exists and is not a socket; refusing to remove it")]
    NotSocket,
    #[error("failed to create the control socket")]
    Create(#[source] std::io::Error),
    #[error("a control socket path must be at most 107 bytes")]
    TooLong,
}

/// A connected client's identity; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientId(pub u64);

/// Why a running command is stopped by the count hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The client sent a cancel frame (Ctrl-C at the prompt).
    Cancelled,
    /// The client closed its connection.
    Gone,
    /// The command ran more instructions than the budget.
    Budget,
}

impl Stop {
    pub fn message(self, budget: u64) -> String {
        match self {
            Stop::Cancelled => "command interrupted by its client".into(),
            Stop::Gone => "command stopped: its client closed the connection".into(),
            Stop::Budget => format!(
                "command stopped after {budget} instructions (the budget of one command; \
                 see --command-budget)"
            ),
        }
    }
}

struct Listener {
    fd: OwnedFd,
    /// `--control` sockets check the peer's uid; channel listeners need not
    /// (only ned can connect to a channel).
    check_peer: bool,
}

#[derive(Default)]
struct Client {
    fd: Option<OwnedFd>,
    input: Vec<u8>,
    /// Bytes of an oversized request still to be thrown away, and its size.
    skip: Option<(usize, usize)>,
    request: Option<Vec<u8>>,
    /// A cancel frame arrived since the last look.
    cancelled: bool,
    out: Vec<u8>,
    /// Whether the socket is in the epoll set, for reading / writing.
    armed: (bool, bool),
}

/// The command being run, as the count hook sees it.
struct Running {
    client: ClientId,
    ticks_left: u64,
    stopped: Option<Stop>,
}

/// A socket path ned created, removed when it is still ours.
struct OwnedPath {
    path: PathBuf,
    dev_ino: (u64, u64),
}

pub struct Control {
    listeners: Vec<Listener>,
    clients: HashMap<u64, Client>,
    next: u64,
    running: Option<Running>,
    /// Instructions one command may run (0: unlimited).
    pub budget: u64,
    paths: Vec<OwnedPath>,
    scratch: Vec<u8>,
    uid: u32,
}

/// Default instruction budget of one command.
pub const DEFAULT_BUDGET: u64 = 1 << 30;

impl Default for Control {
    fn default() -> Control {
        Control {
            listeners: Vec::new(),
            clients: HashMap::new(),
            next: 0,
            running: None,
            budget: DEFAULT_BUDGET,
            paths: Vec::new(),
            scratch: Vec::new(),
            uid: rustix::process::geteuid().as_raw(),
        }
    }
}

/// Appends a frame to `out`.
pub fn frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The reply frame for `status` and `text`; text beyond [`MAX_REPLY`] is
/// cut and a marker says how long it was.
pub fn reply_frame(status: i32, text: &[u8], out: &mut Vec<u8>) {
    let marker;
    let (text, marker) = if text.len() > MAX_REPLY {
        marker = format!("\n[... reply truncated: {} bytes in all]", text.len());
        (&text[..MAX_REPLY], marker.as_bytes())
    } else {
        (text, &b""[..])
    };
    out.push(REPLY);
    out.extend_from_slice(&((4 + text.len() + marker.len()) as u32).to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(text);
    out.extend_from_slice(marker);
}

/// Sends `buf` on a SEQPACKET socket in messages of at most
/// [`MAX_MESSAGE`]; returns how much the socket took.
pub fn send_some(fd: BorrowedFd<'_>, buf: &[u8]) -> rustix::io::Result<usize> {
    let mut sent = 0;
    while sent < buf.len() {
        let end = buf.len().min(sent + MAX_MESSAGE);
        match rustix::net::send(
            fd,
            &buf[sent..end],
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        ) {
            Ok(n) => sent += n,
            Err(Errno::AGAIN) => break,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

impl Control {
    /// Serves a channel's listening socket (`L4.server_loop`). The listener
    /// is made non-blocking: ned must never wait in `accept`.
    pub fn serve(&mut self, reactor: &Reactor, listener: BorrowedFd<'_>) -> std::io::Result<()> {
        let fd = rustix::io::fcntl_dupfd_cloexec(listener, 0)?;
        self.add_listener(reactor, fd, false)
    }

    fn add_listener(
        &mut self,
        reactor: &Reactor,
        fd: OwnedFd,
        check_peer: bool,
    ) -> std::io::Result<()> {
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
        reactor.add(&fd, Token::ControlListen(self.listeners.len() as u64))?;
        self.listeners.push(Listener { fd, check_peer });
        Ok(())
    }

    /// Serves a new socket at `path` (`ned --control`), mode 0600. A
    /// socket nobody answers on (left by a dead ned) is replaced; a live
    /// one, or anything that is not a socket, is left alone.
    pub fn listen_path(&mut self, reactor: &Reactor, path: &Path) -> Result<(), ControlError> {
        let create = |e: Errno| ControlError::Create(e.into());
        if path.as_os_str().len() > 107 {
            return Err(ControlError::TooLong);
        }
        let addr = SocketAddrUnix::new(path).map_err(create)?;
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(create)?;
        // The socket file is created 0600 from the start: no moment in
        // which another uid could connect.
        let old = rustix::process::umask(Mode::from_raw_mode(0o177));
        let mut bound = rustix::net::bind(&sock, &addr);
        if bound == Err(Errno::ADDRINUSE) {
            bound = replace_stale(path, &addr).and_then(|()| rustix::net::bind(&sock, &addr));
        }
        rustix::process::umask(old);
        bound.map_err(|e| match e {
            Errno::ADDRINUSE => ControlError::Live,
            Errno::NOTSOCK => ControlError::NotSocket,
            e => create(e),
        })?;
        let st = rustix::fs::stat(path).map_err(create)?;
        self.paths.push(OwnedPath {
            path: path.to_owned(),
            dev_ino: (st.st_dev, st.st_ino),
        });
        rustix::fs::chmod(path, Mode::from_raw_mode(0o600)).map_err(create)?;
        rustix::net::listen(&sock, 128).map_err(create)?;
        self.add_listener(reactor, sock, true)
            .map_err(ControlError::Create)
    }

    /// Accepts what listener `i` has waiting.
    pub fn accept(&mut self, reactor: &Reactor, i: u64) {
        let i = i as usize;
        if i >= self.listeners.len() {
            return;
        }
        loop {
            let l = &self.listeners[i];
            let check_peer = l.check_peer;
            let fd =
                match rustix::net::accept_with(&l.fd, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK)
                {
                    Ok(fd) => fd,
                    Err(Errno::INTR | Errno::CONNABORTED) => continue,
                    Err(Errno::AGAIN) => return,
                    Err(e) => {
                        crate::diag!("ned: control: failed to accept a client: {e}");
                        return;
                    }
                };
            if check_peer {
                match rustix::net::sockopt::socket_peercred(&fd) {
                    Ok(c) if c.uid.as_raw() == self.uid || c.uid.is_root() => {}
                    Ok(c) => {
                        crate::diag!(
                            "ned: control: refused a client of uid {} (pid {}): only uid {} \
                             or root may connect",
                            c.uid.as_raw(),
                            c.pid.as_raw_nonzero(),
                            self.uid
                        );
                        continue;
                    }
                    Err(e) => {
                        crate::diag!("ned: control: refused a client whose uid is unknown: {e}");
                        continue;
                    }
                }
            }
            if self.clients.len() >= MAX_CLIENTS {
                crate::diag!("ned: control: refused a client: {MAX_CLIENTS} clients are connected");
                continue;
            }
            let id = self.next;
            self.next += 1;
            self.clients.insert(
                id,
                Client {
                    fd: Some(fd),
                    ..Client::default()
                },
            );
            self.arm(reactor, id);
        }
    }

    /// Handles readiness of client `id`; true when a request is ready for
    /// the script layer (queue one `Event::Command` for it).
    pub fn ready(&mut self, reactor: &Reactor, id: u64) -> bool {
        let Some(c) = self.clients.get_mut(&id) else {
            return false;
        };
        if !c.out.is_empty() && !flush(c) {
            self.drop_client(reactor, id, None);
            return false;
        }
        let had = c.request.is_some();
        let open = read(c, &mut self.scratch);
        if std::mem::take(&mut c.cancelled)
            && let Some(r) = &mut self.running
            && r.client.0 == id
        {
            r.stopped.get_or_insert(Stop::Cancelled);
        }
        let c = &self.clients[&id];
        let fresh = !had && c.request.is_some();
        if !open {
            // A request it sent just before closing goes with it: nobody
            // would read the reply.
            self.drop_client(reactor, id, None);
            return false;
        }
        if self.clients[&id].out.len() > OUT_LIMIT {
            self.drop_client(reactor, id, Some("it does not read its replies"));
            return false;
        }
        self.arm(reactor, id);
        fresh
    }

    /// The chunk of client `id`'s waiting request, and whether another
    /// one was buffered behind it (then queue another event for it).
    /// Reading from the client resumes once none waits.
    pub fn take(&mut self, reactor: &Reactor, id: ClientId) -> Option<(Vec<u8>, bool)> {
        let c = self.clients.get_mut(&id.0)?;
        let chunk = c.request.take()?;
        let more = parse_more(c);
        if !more {
            self.arm(reactor, id.0);
        }
        Some((chunk, more))
    }

    /// Queues the reply to client `id` and writes what the socket takes;
    /// a reply to a client that left is dropped.
    pub fn reply(&mut self, reactor: &Reactor, id: ClientId, status: i32, text: &[u8]) {
        let Some(c) = self.clients.get_mut(&id.0) else {
            return;
        };
        reply_frame(status, text, &mut c.out);
        if !flush(c) {
            self.drop_client(reactor, id.0, None);
        } else if c.out.len() > OUT_LIMIT {
            self.drop_client(reactor, id.0, Some("it does not read its replies"));
        } else {
            self.arm(reactor, id.0);
        }
    }

    /// Marks `id`'s command as running, for [`Control::tick`].
    pub fn begin(&mut self, id: ClientId) {
        // A cancel the client sent after this request, read before the
        // request ran (it waited in the queue), stops it at once.
        let cancelled = self
            .clients
            .get_mut(&id.0)
            .is_some_and(|c| std::mem::take(&mut c.cancelled));
        self.running = Some(Running {
            client: id,
            ticks_left: self.budget.div_ceil(TICK),
            stopped: cancelled.then_some(Stop::Cancelled),
        });
    }

    /// The running command ended; true when it had been stopped.
    pub fn end(&mut self) -> bool {
        self.running.take().is_some_and(|r| r.stopped.is_some())
    }

    /// Called by the count hook every [`TICK`] instructions: whether the
    /// running command must stop (sticky, so `pcall` cannot swallow it).
    pub fn tick(&mut self) -> Option<Stop> {
        let r = self.running.as_mut()?;
        if r.stopped.is_none() {
            if self.budget != 0 {
                r.ticks_left = r.ticks_left.saturating_sub(1);
                if r.ticks_left == 0 {
                    r.stopped = Some(Stop::Budget);
                }
            }
            match self.clients.get(&r.client.0).and_then(|c| c.fd.as_ref()) {
                None => r.stopped = Some(Stop::Gone),
                Some(fd) => {
                    let mut b = [0u8; 1];
                    match rustix::net::recv(fd, &mut b, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
                        Ok((0, _)) => r.stopped = Some(Stop::Gone),
                        Ok(_) if b[0] == CANCEL => r.stopped = Some(Stop::Cancelled),
                        _ => {}
                    }
                }
            }
        }
        r.stopped
    }

    fn drop_client(&mut self, reactor: &Reactor, id: u64, why: Option<&str>) {
        if let Some(c) = self.clients.remove(&id)
            && let Some(fd) = &c.fd
        {
            reactor.remove(fd);
            if let Some(why) = why {
                crate::diag!(
                    "ned: control: dropped a client: {why} ({} bytes pending)",
                    c.out.len()
                );
            }
        }
    }

    /// Puts client `id` into the epoll set for what it waits on: input
    /// while no request of it waits, output while replies are pending.
    fn arm(&mut self, reactor: &Reactor, id: u64) {
        let Some(c) = self.clients.get_mut(&id) else {
            return;
        };
        let Some(fd) = &c.fd else { return };
        let want = (c.request.is_none(), !c.out.is_empty());
        if want == c.armed {
            return;
        }
        match reactor.set_interest(fd, Token::ControlClient(id), want.0, want.1) {
            Ok(()) => c.armed = want,
            Err(e) => {
                crate::diag!("ned: control: failed to watch a client: {e}");
                self.drop_client(reactor, id, None);
            }
        }
    }
}

/// Instructions between two calls of [`Control::tick`] (the count hook's
/// period in the main state).
pub const TICK: u64 = 1 << 20;

/// Writes what `c.out` holds as far as the socket takes it; false when the
/// connection is broken.
fn flush(c: &mut Client) -> bool {
    let Some(fd) = &c.fd else { return false };
    match send_some(fd.as_fd(), &c.out) {
        Ok(n) => {
            c.out.drain(..n);
            true
        }
        Err(_) => false,
    }
}

/// Reads what the socket has into `c.input` (thrown away while an
/// oversized request is skipped); false at the end of the connection.
fn read(c: &mut Client, scratch: &mut Vec<u8>) -> bool {
    scratch.resize(256 << 10, 0);
    // A bounded share per turn, so a client streaming a huge chunk does not
    // hold up the loop; the socket stays readable and comes back.
    for _ in 0..16 {
        // No more input while a request waits: it is the flow control.
        if c.request.is_some() {
            return true;
        }
        let Some(fd) = &c.fd else { return false };
        let got = rustix::net::recv(fd, &mut scratch[..], RecvFlags::DONTWAIT | RecvFlags::TRUNC);
        match got {
            Ok((0, _)) => return false,
            Ok((n, _)) if n > scratch.len() => {
                reply_frame(
                    EPROTO,
                    b"message larger than 256 KiB; split frames",
                    &mut c.out,
                );
                let _ = flush(c);
                return false;
            }
            Ok((n, _)) => {
                c.input.extend_from_slice(&scratch[..n]);
                if !parse_more(c) && c.input.len() > HEADER + MAX_CHUNK {
                    return false;
                }
                if c.fd.is_none() {
                    return false;
                }
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return true,
            Err(_) => return false,
        }
    }
    true
}

/// Parses up to the next request; true when one is now waiting.
fn parse_more(c: &mut Client) -> bool {
    while let Some(kind) = next_frame(c) {
        if kind == REQUEST {
            return true;
        }
    }
    c.request.is_some()
}

/// Takes one frame off `c.input`: a request becomes `c.request`, a cancel
/// outside a running command means nothing, a malformed frame closes the
/// connection after an error reply. `None` when no complete frame is there.
fn next_frame(c: &mut Client) -> Option<u8> {
    if let Some((left, size)) = c.skip {
        let n = left.min(c.input.len());
        c.input.drain(..n);
        if n < left {
            c.skip = Some((left - n, size));
            return None;
        }
        c.skip = None;
        let msg = format!("chunk of {size} bytes is larger than the limit of {MAX_CHUNK} bytes");
        reply_frame(E2BIG, msg.as_bytes(), &mut c.out);
    }
    if c.request.is_some() || c.input.len() < HEADER {
        return None;
    }
    let kind = c.input[0];
    let len = u32::from_le_bytes([c.input[1], c.input[2], c.input[3], c.input[4]]) as usize;
    match kind {
        REQUEST if len > MAX_CHUNK => {
            c.input.drain(..HEADER);
            c.skip = Some((len, len));
            next_frame(c).or(Some(0))
        }
        REQUEST if c.input.len() >= HEADER + len => {
            let chunk = c.input[HEADER..HEADER + len].to_vec();
            c.input.drain(..HEADER + len);
            c.request = Some(chunk);
            Some(REQUEST)
        }
        REQUEST => None,
        CANCEL => {
            c.input.drain(..HEADER);
            c.cancelled = true;
            Some(CANCEL)
        }
        other => {
            let msg = format!("not a frame of ned's command protocol (kind byte {other:#04x})");
            reply_frame(EPROTO, msg.as_bytes(), &mut c.out);
            let _ = flush(c);
            c.input.clear();
            c.fd = None;
            None
        }
    }
}

/// A socket at `path` that refuses connections is a dead ned's: remove it.
fn replace_stale(path: &Path, addr: &SocketAddrUnix) -> rustix::io::Result<()> {
    let st = rustix::fs::lstat(path)?;
    if !rustix::fs::FileType::from_raw_mode(st.st_mode).is_socket() {
        return Err(Errno::NOTSOCK);
    }
    let probe = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    match rustix::net::connect(&probe, addr) {
        Err(Errno::CONNREFUSED | Errno::NOENT) => {
            rustix::fs::unlink(path)?;
            Ok(())
        }
        // Accepted, or a full backlog, or a socket of another type: alive.
        _ => Err(Errno::ADDRINUSE),
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        // Last replies (an `os.exit` command's) get one more try.
        for c in self.clients.values_mut() {
            let _ = flush(c);
        }
        for p in &self.paths {
            if rustix::fs::stat(&p.path).is_ok_and(|st| (st.st_dev, st.st_ino) == p.dev_ino) {
                let _ = rustix::fs::unlink(&p.path);
            }
        }
    }
}

/// The frame parser alone, for the `control_frames` fuzz target
/// (docs/fuzzing.md): `pieces` arrive in turn as one connection's input and
/// each request is taken as the serve loop takes it. Returns the requests
/// and the error replies the parser queued.
pub fn parse_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut c = Client::default();
    let mut requests = Vec::new();
    for piece in pieces {
        c.input.extend_from_slice(piece);
        while parse_more(&mut c) {
            requests.extend(c.request.take());
        }
    }
    (requests, c.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::default()
    }

    /// Ctrl-C right after Enter: the cancel frame is read while the
    /// request still waits in the queue; it must stop that request when it
    /// begins, not be lost (the command would then run for ever).
    #[test]
    fn a_cancel_read_before_its_command_ran_stops_it() {
        let mut ctl = Control::default();
        let mut c = client();
        frame(REQUEST, b"while true do end", &mut c.input);
        frame(CANCEL, b"", &mut c.input);
        assert!(parse_more(&mut c), "the request is ready");
        assert!(!c.cancelled, "the cancel waits behind its request");
        let chunk = c.request.take();
        assert!(chunk.is_some());
        assert!(!parse_more(&mut c));
        assert!(c.cancelled);
        ctl.clients.insert(1, c);
        ctl.begin(ClientId(1));
        assert!(matches!(
            ctl.running.as_ref().and_then(|r| r.stopped),
            Some(Stop::Cancelled)
        ));
        assert!(ctl.end());
        // The next command of that client is not stopped by the old cancel.
        ctl.begin(ClientId(1));
        assert!(ctl.running.as_ref().is_some_and(|r| r.stopped.is_none()));
    }

    #[test]
    fn frames_are_parsed_across_pieces_and_oversized_ones_skipped() {
        let mut c = client();
        let mut bytes = Vec::new();
        frame(CANCEL, b"", &mut bytes);
        frame(REQUEST, b"return 1", &mut bytes);
        c.input.extend_from_slice(&bytes[..7]);
        assert!(!parse_more(&mut c));
        assert!(c.cancelled && c.request.is_none());
        c.input.extend_from_slice(&bytes[7..]);
        assert!(parse_more(&mut c));
        assert_eq!(c.request.take().as_deref(), Some(&b"return 1"[..]));

        let mut big = vec![REQUEST];
        big.extend_from_slice(&((MAX_CHUNK + 1) as u32).to_le_bytes());
        c.input.extend_from_slice(&big);
        c.input.extend(std::iter::repeat_n(b'x', 1000));
        assert!(!parse_more(&mut c));
        assert!(c.out.is_empty());
        c.input
            .extend(std::iter::repeat_n(b'x', MAX_CHUNK + 1 - 1000));
        frame(REQUEST, b"next", &mut c.input);
        assert!(parse_more(&mut c));
        assert_eq!(c.request.as_deref(), Some(&b"next"[..]));
        assert_eq!(c.out[0], REPLY);
        assert_eq!(i32::from_le_bytes(c.out[5..9].try_into().unwrap()), E2BIG);
    }

    #[test]
    fn long_replies_are_cut_with_a_marker() {
        let mut out = Vec::new();
        reply_frame(0, &vec![b'a'; MAX_REPLY + 10], &mut out);
        let text = String::from_utf8_lossy(&out[HEADER + 4..]).into_owned();
        assert!(text.ends_with(&format!(
            "[... reply truncated: {} bytes in all]",
            MAX_REPLY + 10
        )));
        assert_eq!(
            out.len() - HEADER,
            u32::from_le_bytes(out[1..5].try_into().unwrap()) as usize
        );
    }
}
