//! The wire format of ned's object protocol (docs/protocol.md), shared by
//! ned's object service and the `ned-client` library: one message per
//! SOCK_SEQPACKET datagram, a 20-byte header, a payload of tagged values,
//! and fds as SCM_RIGHTS.
//!
//! [`decode`] takes any bytes and never panics: every malformed message is a
//! [`ProtocolError`], which the receiver answers with an error reply.
//! [`send`] and [`recv`] move one message and its fds.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The protocol version this crate speaks.
pub const VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER: usize = 20;
/// Longest message, header included.
pub const MAX_MESSAGE: usize = 65536;
/// Most fds one message may carry.
pub const MAX_FDS: usize = 16;
/// Set in the op of every reply.
pub const REPLY: u16 = 0x8000;

/// Request ops.
pub mod op {
    pub const TYPE: u16 = 1;
    pub const QUERY: u16 = 2;
    pub const REGISTER: u16 = 3;
    pub const CREATE: u16 = 4;
    pub const NAMES: u16 = 5;
}

/// Status codes of error replies (`-errno`).
pub mod status {
    pub const EPERM: i32 = -1;
    pub const ENOENT: i32 = -2;
    pub const E2BIG: i32 = -7;
    pub const ENOMEM: i32 = -12;
    pub const EBUSY: i32 = -16;
    pub const EINVAL: i32 = -22;
    pub const EMFILE: i32 = -24;
    pub const EPIPE: i32 = -32;
    pub const ENOSYS: i32 = -38;
    pub const EPROTO: i32 = -71;
    pub const EPROTONOSUPPORT: i32 = -93;
    pub const ETIMEDOUT: i32 = -110;
}

/// Kind codes of cap values, in the order of docs/protocol.md.
pub const KIND_NAMES: [&str; 13] = [
    "Ipc_gate",
    "Namespace",
    "Factory",
    "Dataspace",
    "Log",
    "Scheduler",
    "Semaphore",
    "Irq_sender",
    "Directory",
    "File",
    "Rm",
    "Parent",
    "Socket",
];

/// The code of a kind name (`"Namespace"` → 2).
pub fn kind_code(name: &str) -> Option<u16> {
    KIND_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| i as u16 + 1)
}

/// The name of a kind code.
pub fn kind_name(code: u16) -> Option<&'static str> {
    KIND_NAMES.get(usize::from(code).checked_sub(1)?).copied()
}

/// One value of a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Nil,
    Int(i64),
    Str(Vec<u8>),
    /// A cap: an index into the message's fds, its kind code and rights.
    Cap {
        fd: u16,
        kind: u16,
        rights: u32,
    },
}

const TAG_NIL: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_STR: u8 = 2;
const TAG_CAP: u8 = 3;

/// A decoded message (request or reply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub op: u16,
    pub id: u32,
    pub status: i32,
    /// How many fds the header says the message carries.
    pub nfds: u16,
    pub values: Vec<Value>,
}

/// A decoded request; the same layout as every message.
pub type Request = Message;

/// Why bytes are not a message. The receiver answers with `status()`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("message of {0} bytes is shorter than the 20-byte header")]
    Short(usize),
    #[error("protocol version {0} is not supported (ned speaks version 1)")]
    Version(u16),
    #[error("header says {said} payload bytes, the message has {has}")]
    Length { said: u32, has: usize },
    #[error("reserved header bytes are not zero")]
    Reserved,
    #[error("value {index}: unknown tag {tag}")]
    Tag { index: usize, tag: u8 },
    #[error("value {index} is cut off")]
    Truncated { index: usize },
    #[error("header says {said} fds, the message carries {has}")]
    FdCount { said: u16, has: usize },
    #[error("cap value {index} names fd {fd}, the message carries {has}")]
    FdIndex { index: usize, fd: u16, has: usize },
    #[error("fd {0} is named by more than one cap value, or by none")]
    FdUse(u16),
    #[error("unknown cap kind {0}")]
    Kind(u16),
}

impl ProtocolError {
    /// The status of the error reply this error gets.
    pub fn status(&self) -> i32 {
        match self {
            ProtocolError::Version(_) => status::EPROTONOSUPPORT,
            _ => status::EPROTO,
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The id of a message whose header is at least readable that far, else 0:
/// what an error reply to unreadable bytes carries.
pub fn peek_id(bytes: &[u8]) -> u32 {
    if bytes.len() >= 8 {
        u32_at(bytes, 4)
    } else {
        0
    }
}

/// Decodes one message. Never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Message, ProtocolError> {
    if bytes.len() < HEADER {
        return Err(ProtocolError::Short(bytes.len()));
    }
    let version = u16_at(bytes, 0);
    if version != VERSION {
        return Err(ProtocolError::Version(version));
    }
    let op = u16_at(bytes, 2);
    let id = u32_at(bytes, 4);
    let status = u32_at(bytes, 8) as i32;
    let nfds = u16_at(bytes, 12);
    if u16_at(bytes, 14) != 0 {
        return Err(ProtocolError::Reserved);
    }
    let said = u32_at(bytes, 16);
    let payload = &bytes[HEADER..];
    if said as usize != payload.len() {
        return Err(ProtocolError::Length {
            said,
            has: payload.len(),
        });
    }
    let mut values = Vec::new();
    let mut rest = payload;
    let mut used = vec![0u8; usize::from(nfds)];
    while let Some((&tag, tail)) = rest.split_first() {
        let index = values.len();
        let cut = ProtocolError::Truncated { index };
        let (value, tail) = match tag {
            TAG_NIL => (Value::Nil, tail),
            TAG_INT => {
                let (n, tail) = tail.split_first_chunk::<8>().ok_or(cut)?;
                (Value::Int(i64::from_le_bytes(*n)), tail)
            }
            TAG_STR => {
                let (n, tail) = tail.split_first_chunk::<4>().ok_or(cut.clone())?;
                let n = u32::from_le_bytes(*n) as usize;
                if tail.len() < n {
                    return Err(cut);
                }
                let (s, tail) = tail.split_at(n);
                (Value::Str(s.to_vec()), tail)
            }
            TAG_CAP => {
                let (c, tail) = tail.split_first_chunk::<8>().ok_or(cut)?;
                let fd = u16::from_le_bytes([c[0], c[1]]);
                let kind = u16::from_le_bytes([c[2], c[3]]);
                let rights = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
                let slot = used
                    .get_mut(usize::from(fd))
                    .ok_or(ProtocolError::FdIndex {
                        index,
                        fd,
                        has: usize::from(nfds),
                    })?;
                *slot += 1;
                if *slot > 1 {
                    return Err(ProtocolError::FdUse(fd));
                }
                if kind_name(kind).is_none() {
                    return Err(ProtocolError::Kind(kind));
                }
                (Value::Cap { fd, kind, rights }, tail)
            }
            tag => return Err(ProtocolError::Tag { index, tag }),
        };
        values.push(value);
        rest = tail;
    }
    if let Some(unused) = used.iter().position(|u| *u == 0) {
        return Err(ProtocolError::FdUse(unused as u16));
    }
    Ok(Message {
        op,
        id,
        status,
        nfds,
        values,
    })
}

/// Encodes a message; `nfds` is taken from the cap values.
pub fn encode(op: u16, id: u32, status: i32, values: &[Value]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    let mut nfds = 0u16;
    for v in values {
        match v {
            Value::Nil => out.push(TAG_NIL),
            Value::Int(n) => {
                out.push(TAG_INT);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Value::Str(s) => {
                out.push(TAG_STR);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s);
            }
            Value::Cap { fd, kind, rights } => {
                nfds += 1;
                out.push(TAG_CAP);
                out.extend_from_slice(&fd.to_le_bytes());
                out.extend_from_slice(&kind.to_le_bytes());
                out.extend_from_slice(&rights.to_le_bytes());
            }
        }
    }
    let len = (out.len() - HEADER) as u32;
    out[0..2].copy_from_slice(&VERSION.to_le_bytes());
    out[2..4].copy_from_slice(&op.to_le_bytes());
    out[4..8].copy_from_slice(&id.to_le_bytes());
    out[8..12].copy_from_slice(&status.to_le_bytes());
    out[12..14].copy_from_slice(&nfds.to_le_bytes());
    out[16..20].copy_from_slice(&len.to_le_bytes());
    out
}

/// An error reply to request `id` of op `op`: the status and a message.
pub fn error_reply(op: u16, id: u32, status: i32, msg: &str) -> Vec<u8> {
    encode(
        op | REPLY,
        id,
        status,
        &[Value::Str(msg.as_bytes().to_vec())],
    )
}

/// The label a channel's server reads from a connection's peer name
/// (`getpeername()`; docs/protocol.md, "Labels"): the last path component
/// `ned1.<rights in lowercase hex>.<cap name>`, written by ned when it
/// connected the client. Returns the rights and the cap name, or `None`
/// for a peer name without a label (a connection ned did not make).
pub fn parse_label(path: &[u8]) -> Option<(u32, &str)> {
    let last = path.rsplit(|b| *b == b'/').next()?;
    let rest = last.strip_prefix(b"ned1.")?;
    let dot = rest.iter().position(|b| *b == b'.')?;
    let (hex, name) = (&rest[..dot], &rest[dot + 1..]);
    if hex.is_empty() || hex.len() > 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let rights = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
    Some((rights, std::str::from_utf8(name).ok()?))
}

/// Sends one message with its fds. On a non-blocking socket a full socket
/// is `EAGAIN`, and the message is then not sent at all.
pub fn send(sock: impl AsFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), Errno> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::TOOMANYREFS);
    }
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// One received message: its bytes, its fds, and whether the kernel cut it
/// (longer than [`MAX_MESSAGE`], or more fds than [`MAX_FDS`]).
pub struct Received {
    pub bytes: Vec<u8>,
    pub fds: Vec<OwnedFd>,
    pub truncated: bool,
    pub fds_truncated: bool,
}

/// Receives one message; `Ok(None)` is the peer's end of the connection.
/// A non-blocking socket gives `EAGAIN` when nothing is there.
pub fn recv(sock: impl AsFd) -> Result<Option<Received>, Errno> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        sock,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    if got.bytes == 0 && fds.is_empty() && !got.flags.contains(ReturnFlags::TRUNC) {
        return Ok(None);
    }
    buf.truncate(got.bytes.min(MAX_MESSAGE));
    Ok(Some(Received {
        bytes: buf,
        fds,
        truncated: got.flags.contains(ReturnFlags::TRUNC),
        fds_truncated: got.flags.contains(ReturnFlags::CTRUNC),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let vals = vec![
            Value::Nil,
            Value::Int(-5),
            Value::Str(b"a\0b".to_vec()),
            Value::Cap {
                fd: 0,
                kind: 2,
                rights: 5,
            },
        ];
        let bytes = encode(op::QUERY, 7, 0, &vals);
        let m = decode(&bytes).unwrap();
        assert_eq!((m.op, m.id, m.status, m.nfds), (op::QUERY, 7, 0, 1));
        assert_eq!(m.values, vals);
    }

    #[test]
    fn malformed_messages_are_errors() {
        let good = encode(op::TYPE, 1, 0, &[Value::Int(1)]);
        assert_eq!(decode(&good[..5]), Err(ProtocolError::Short(5)));
        let mut v = good.clone();
        v[0] = 9;
        assert_eq!(decode(&v), Err(ProtocolError::Version(9)));
        let mut v = good.clone();
        v.push(0);
        assert!(matches!(decode(&v), Err(ProtocolError::Length { .. })));
        let mut v = good.clone();
        v.truncate(v.len() - 1);
        v[16] -= 1;
        assert_eq!(decode(&v), Err(ProtocolError::Truncated { index: 0 }));
        let mut v = encode(op::TYPE, 1, 0, &[]);
        v.push(9);
        v[16] = 1;
        assert_eq!(decode(&v), Err(ProtocolError::Tag { index: 0, tag: 9 }));
        // A cap naming an fd the message does not carry, and an fd no cap names.
        let mut v = encode(
            op::TYPE,
            1,
            0,
            &[Value::Cap {
                fd: 3,
                kind: 1,
                rights: 4,
            }],
        );
        assert!(matches!(decode(&v), Err(ProtocolError::FdIndex { .. })));
        v[12] = 5;
        assert_eq!(decode(&v), Err(ProtocolError::FdUse(0)));
        // A huge string length does not allocate or panic.
        let mut v = encode(op::TYPE, 1, 0, &[]);
        v.extend_from_slice(&[TAG_STR, 0xff, 0xff, 0xff, 0xff]);
        v[16] = 5;
        assert_eq!(decode(&v), Err(ProtocolError::Truncated { index: 0 }));
    }

    /// Every prefix and every one-byte change of valid messages decodes to
    /// a message or an error, never a panic (the fuzz target goes further).
    #[test]
    fn mutations_of_valid_messages_never_panic() {
        let msgs = [
            encode(
                op::QUERY,
                9,
                0,
                &[Value::Str(b"name".to_vec()), Value::Int(4), Value::Nil],
            ),
            encode(
                op::REGISTER,
                1,
                0,
                &[
                    Value::Str(b"x".to_vec()),
                    Value::Cap {
                        fd: 0,
                        kind: 4,
                        rights: 7,
                    },
                ],
            ),
        ];
        for m in &msgs {
            for cut in 0..=m.len() {
                let _ = decode(&m[..cut]);
            }
            for i in 0..m.len() {
                for b in [0u8, 1, 2, 3, 0x7f, 0xff] {
                    let mut v = m.clone();
                    v[i] = b;
                    let _ = decode(&v);
                }
            }
        }
    }

    #[test]
    fn labels_parse_and_garbage_is_no_label() {
        assert_eq!(
            parse_label(b"/tmp/nedc-1-2-3/ned1.7.fs.main"),
            Some((7, "fs.main"))
        );
        assert_eq!(parse_label(b"ned1.2f."), Some((0x2f, "")));
        assert_eq!(parse_label(b"/tmp/x/ned1.zz.a"), None);
        assert_eq!(parse_label(b"/tmp/x/ned2.7.a"), None);
        assert_eq!(parse_label(b"ned1.123456789.a"), None);
        assert_eq!(parse_label(b""), None);
    }

    #[test]
    fn fds_travel_with_their_message() {
        let (a, b) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap();
        let (r, _w) = rustix::pipe::pipe().unwrap();
        let bytes = encode(
            op::REGISTER,
            2,
            0,
            &[Value::Cap {
                fd: 0,
                kind: 13,
                rights: 4,
            }],
        );
        send(&a, &bytes, &[r.as_fd()]).unwrap();
        let got = recv(&b).unwrap().unwrap();
        assert_eq!(got.bytes, bytes);
        assert_eq!(got.fds.len(), 1);
        drop(a);
        assert!(recv(&b).unwrap().is_none());
    }
}
