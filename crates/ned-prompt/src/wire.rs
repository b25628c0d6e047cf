//! The client half of ned's command protocol (docs/prompt.md): frames of a
//! kind byte and a 32-bit little-endian length, over a Unix SEQPACKET
//! connection, sent in messages of at most 64 KiB. The frame codec is
//! ned-core's own (`ned_core::control`), so both sides agree by
//! construction.

use std::os::fd::OwnedFd;
use std::path::Path;

use ned_core::control::{CANCEL, HEADER, MAX_MESSAGE, REPLY, REQUEST, frame};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, RecvFlags, SocketAddrUnix, SocketFlags, SocketType};

/// A reply: ned's status (0, -22, -5, ...) and its text.
pub struct Reply {
    pub status: i32,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("ned closed the connection (it exited, or dropped this client)")]
    Gone,
    #[error("lost the connection to ned: {0}")]
    Io(#[from] std::io::Error),
    #[error("ned sent something that is not a reply of its command protocol")]
    Garbled,
}

impl From<Errno> for WireError {
    fn from(e: Errno) -> WireError {
        match e {
            Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN => WireError::Gone,
            e => WireError::Io(e.into()),
        }
    }
}

/// What a pending call watches besides the socket: the terminal, whose
/// Ctrl-C (read as a byte, the terminal's signals being off meanwhile)
/// sends a cancel frame.
pub trait Interrupt {
    /// The descriptor to poll, and whether what it has means "cancel".
    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>>;
    fn cancelled(&self) -> bool;
    /// A second descriptor whose readability alone means "cancel" (a
    /// signalfd of SIGINT: Ctrl-C typed while the terminal still had its
    /// signal keys on).
    fn signal(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
    /// Called when [`Interrupt::signal`] was readable: consumes it.
    fn take_signal(&self) {}
}

pub struct Conn {
    fd: OwnedFd,
    input: Vec<u8>,
}

impl Conn {
    pub fn from_fd(fd: OwnedFd) -> Conn {
        Conn {
            fd,
            input: Vec::new(),
        }
    }

    /// Connects to `ned --control PATH`.
    pub fn connect(path: &Path) -> std::io::Result<Conn> {
        let sock = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let addr = SocketAddrUnix::new(path)?;
        rustix::net::connect(&sock, &addr)?;
        Ok(Conn::from_fd(sock))
    }

    /// Sends `chunk` and waits for its reply; `interrupt` may cancel it.
    pub fn call(
        &mut self,
        chunk: &[u8],
        interrupt: Option<&dyn Interrupt>,
    ) -> Result<Reply, WireError> {
        let mut out = Vec::with_capacity(HEADER + chunk.len());
        frame(REQUEST, chunk, &mut out);
        self.send_all(&out)?;
        self.reply(interrupt)
    }

    fn send_all(&self, buf: &[u8]) -> Result<(), WireError> {
        for piece in buf.chunks(MAX_MESSAGE) {
            let mut sent = 0;
            while sent < piece.len() {
                match rustix::net::send(&self.fd, &piece[sent..], rustix::net::SendFlags::NOSIGNAL)
                {
                    Ok(n) => sent += n,
                    Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn reply(&mut self, interrupt: Option<&dyn Interrupt>) -> Result<Reply, WireError> {
        let mut buf = vec![0u8; 256 << 10];
        loop {
            if let Some(r) = self.parse()? {
                return Ok(r);
            }
            if let Some(int) = interrupt
                && let Some(tty) = int.fd()
            {
                let sig = int.signal();
                let mut fds = vec![
                    PollFd::new(&self.fd, PollFlags::IN),
                    PollFd::new(&tty, PollFlags::IN),
                ];
                if let Some(sig) = &sig {
                    fds.push(PollFd::new(sig, PollFlags::IN));
                }
                match rustix::event::poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
                let sock_ready = !fds[0].revents().is_empty();
                let by_signal = fds.get(2).is_some_and(|f| !f.revents().is_empty());
                if by_signal {
                    int.take_signal();
                }
                if by_signal || (!fds[1].revents().is_empty() && int.cancelled()) {
                    let mut c = Vec::new();
                    frame(CANCEL, b"", &mut c);
                    self.send_all(&c)?;
                }
                if !sock_ready {
                    continue;
                }
            }
            match rustix::net::recv(&self.fd, &mut buf, RecvFlags::empty()) {
                Ok((0, _)) => return Err(WireError::Gone),
                Ok((n, _)) => self.input.extend_from_slice(&buf[..n.min(buf.len())]),
                Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn parse(&mut self) -> Result<Option<Reply>, WireError> {
        if self.input.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_le_bytes([self.input[1], self.input[2], self.input[3], self.input[4]])
            as usize;
        if self.input[0] != REPLY || len < 4 {
            return Err(WireError::Garbled);
        }
        if self.input.len() < HEADER + len {
            return Ok(None);
        }
        let body: Vec<u8> = self.input.drain(..HEADER + len).skip(HEADER).collect();
        let status = i32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        Ok(Some(Reply {
            status,
            text: String::from_utf8_lossy(&body[4..]).into_owned(),
        }))
    }
}
