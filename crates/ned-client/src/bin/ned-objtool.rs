//! `ned-objtool`: runs object-protocol commands against the caps it was
//! granted, one per argument, and prints one line per command — `ok ...` or
//! `err <status> <message>` — so tests (and users poking at a config) can
//! drive ned's object service from a task.
//!
//! Commands (`CAP` is a granted cap name, or a name a `query`/`create` put
//! in the tool's table):
//!
//! - `type:CAP` — the kind and rights;
//! - `query:CAP:NAME[:RIGHTS[:WAIT_MS]]` — stores the result as `NAME`;
//! - `register:CAP:NAME:HELD` / `unlink:CAP:NAME`;
//! - `names:CAP`;
//! - `create:CAP:AS:PROTO[:ARG...]` — integers, or `s=TEXT` strings;
//!   stores the result as `AS`, and prints its kind, rights and size;
//! - `write:CAP:TEXT` — a line into a log cap (or any writable fd);
//! - `raw:CAP:HEX` — sends the bytes as one message, prints the reply;
//! - `big:CAP:BYTES` — a `type` request padded to BYTES, prints the reply;
//! - `fds:CAP:N` — a `type` request carrying N fds, prints the reply;
//! - `flood:CAP:N` — sends N `type` requests, reads nothing, then reports
//!   whether ned dropped the connection (`ok dropped`);
//! - `hold:CAP:NAME:N` — N queries of `NAME`, keeping every connection;
//! - `sleep:MS`.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use ned_client::{Caps, Error, Object, Send, Value, kind_code, op};

fn main() {
    let mut caps = match Caps::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ned-objtool: {e}");
            std::process::exit(2);
        }
    };
    let mut held: HashMap<String, OwnedFd> = HashMap::new();
    for name in caps
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    {
        if let Some(fd) = caps.take(&name) {
            held.insert(name, fd);
        }
    }
    let mut out = std::io::stdout().lock();
    for cmd in std::env::args().skip(1) {
        let line = match run(&cmd, &mut held) {
            Ok(s) => format!("ok {s}"),
            Err(Error::Server { status, msg }) => format!("err {status} {msg}"),
            Err(e) => format!("err io {e}"),
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

fn usage(cmd: &str) -> Error {
    Error::Env(format!("bad command '{cmd}'"))
}

/// A connection to the held cap `name`, sharing its open file.
fn object(held: &HashMap<String, OwnedFd>, name: &str) -> Result<Object, Error> {
    let fd = held
        .get(name)
        .ok_or_else(|| Error::Env(format!("no cap '{name}'")))?;
    Ok(Object::new(rustix::io::fcntl_dupfd_cloexec(fd, 0)?))
}

fn run(cmd: &str, held: &mut HashMap<String, OwnedFd>) -> Result<String, Error> {
    let parts: Vec<&str> = cmd.split(':').collect();
    let arg = |i: usize| parts.get(i).copied().ok_or_else(|| usage(cmd));
    match parts[0] {
        "type" => {
            let (kind, rights, rest) = object(held, arg(1)?)?.kind()?;
            Ok(format!("{kind} rights={rights:#x} {rest:?}"))
        }
        "query" => {
            let rights = parts.get(3).map(|r| parse_int(r) as u32);
            let wait = parts.get(4).map(|w| parse_int(w) as u64);
            let got = object(held, arg(1)?)?.query(arg(2)?, rights, wait)?;
            let shown = format!("{} rights={:#x}", got.kind, got.rights);
            held.insert(arg(2)?.to_owned(), got.fd);
            Ok(shown)
        }
        "register" => {
            let fd = held
                .get(arg(3)?)
                .ok_or_else(|| Error::Env(format!("no cap '{}'", arg(3).unwrap_or(""))))?;
            let mut ns = object(held, arg(1)?)?;
            ns.register(
                arg(2)?,
                Some(Send {
                    fd: fd.as_fd(),
                    kind: kind_code("Socket").unwrap_or(0),
                    rights: 7,
                }),
            )?;
            Ok(String::new())
        }
        "unlink" => object(held, arg(1)?)?
            .register(arg(2)?, None)
            .map(|()| String::new()),
        "names" => Ok(object(held, arg(1)?)?.names()?.join(",")),
        "create" => {
            let args: Vec<Value> = parts[4.min(parts.len())..]
                .iter()
                .map(|a| match a.strip_prefix("s=") {
                    Some(s) => Value::Str(s.as_bytes().to_vec()),
                    None => Value::Int(parse_int(a)),
                })
                .collect();
            let got = object(held, arg(1)?)?.create(parse_int(arg(3)?), &args)?;
            let size = rustix::fs::fstat(&got.fd).map_or(0, |s| s.st_size);
            let shown = format!("{} rights={:#x} size={size}", got.kind, got.rights);
            held.insert(arg(2)?.to_owned(), got.fd);
            Ok(shown)
        }
        "write" => {
            let fd = held.get(arg(1)?).ok_or_else(|| usage(cmd))?;
            rustix::io::write(fd, format!("{}\n", arg(2)?).as_bytes())?;
            Ok(String::new())
        }
        "raw" => {
            let bytes = hex(arg(2)?).ok_or_else(|| usage(cmd))?;
            let conn = object(held, arg(1)?)?;
            send_raw(&conn, &bytes)?;
            reply_of(&conn)
        }
        "big" => {
            let mut bytes = ned_client::encode(op::TYPE, 1, 0, &[]);
            bytes.resize(parse_int(arg(2)?) as usize, 0);
            let conn = object(held, arg(1)?)?;
            rustix::net::sockopt::set_socket_send_buffer_size(conn.fd(), 1 << 20)?;
            send_raw(&conn, &bytes)?;
            reply_of(&conn)
        }
        "fds" => {
            let n = parse_int(arg(2)?) as usize;
            let conn = object(held, arg(1)?)?;
            let stdin = rustix::stdio::stdin();
            let fds = vec![stdin; n];
            let mut space =
                vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(n))];
            let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
            control.push(rustix::net::SendAncillaryMessage::ScmRights(&fds));
            let bytes = ned_client::encode(op::TYPE, 1, 0, &[]);
            rustix::net::sendmsg(
                conn.fd(),
                &[std::io::IoSlice::new(&bytes)],
                &mut control,
                rustix::net::SendFlags::empty(),
            )?;
            reply_of(&conn)
        }
        "flood" => {
            let n = parse_int(arg(2)?) as usize;
            let conn = object(held, arg(1)?)?;
            let msg = ned_client::encode(op::TYPE, 1, 0, &[]);
            rustix::net::sockopt::set_socket_send_buffer_size(conn.fd(), 1 << 20)?;
            for _ in 0..n {
                if send_raw(&conn, &msg).is_err() {
                    break;
                }
            }
            // Drain: ned's end closes once it dropped us.
            loop {
                match recv_raw(&conn) {
                    Ok(Some(_)) => continue,
                    Ok(None) | Err(_) => return Ok("dropped".into()),
                }
            }
        }
        "hold" => {
            let n = parse_int(arg(3)?) as usize;
            // Room for the N fds, as far as the hard limit allows.
            let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
            let raised = rustix::process::Rlimit {
                current: lim.maximum,
                maximum: lim.maximum,
            };
            let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, raised);
            let mut ns = object(held, arg(1)?)?;
            let mut kept = Vec::new();
            for i in 0..n {
                match ns.query(arg(2)?, None, Some(0)) {
                    Ok(g) => kept.push(g.fd),
                    Err(Error::Server { status, msg }) => {
                        return Err(Error::Server {
                            status,
                            msg: format!("after {i}: {msg}"),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(format!("{}", kept.len()))
        }
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(parse_int(arg(1)?) as u64));
            Ok(String::new())
        }
        _ => Err(usage(cmd)),
    }
}

/// The reply on `conn` as a command's result.
fn reply_of(conn: &Object) -> Result<String, Error> {
    match recv_raw(conn)? {
        Some((0, _)) => Ok("reply 0".into()),
        Some((status, text)) => Err(Error::Server { status, msg: text }),
        None => Ok("closed".into()),
    }
}

fn send_raw(conn: &Object, bytes: &[u8]) -> Result<(), Error> {
    ned_client::send(conn.fd(), bytes, &[]).map_err(Error::from)
}

/// The next message on `conn`: its status and text, or `None` at the end.
fn recv_raw(conn: &Object) -> Result<Option<(i32, String)>, Error> {
    let Some(rec) = ned_client::recv(conn.fd())? else {
        return Ok(None);
    };
    let msg = ned_client::decode(&rec.bytes).map_err(|e| Error::Protocol(e.to_string()))?;
    let text = match msg.values.first() {
        Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => String::new(),
    };
    Ok(Some((msg.status, text)))
}

fn parse_int(s: &str) -> i64 {
    match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).unwrap_or(0),
        None => s.parse().unwrap_or(0),
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
