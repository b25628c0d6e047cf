//! `L4.socket{...}` and the methods of socket caps (`address`, `protocol`,
//! `listening`).
//!
//! This file only reads the script's table: which family (`tcp`, `udp` or
//! `unix`, exactly one), which options that family takes, each value's type
//! and range. Parsing the address and binding live in ned-core's `socket`
//! module. Every error is `bad argument #1 to 'L4.socket' (<field>: ...)`.

use mlua::{Lua, MultiValue, Table, Value};
use ned_core::cap::Object;
use ned_core::socket::{self, DEFAULT_BACKLOG, Socket, SocketError, Spec, UnixType};
use ned_core::{Cap, Rights};

use crate::cap::{cap_arg, push};
use crate::fail::{Args, Fail, Res, bad_arg, chain, type_name};

const FUNC: &str = "L4.socket";

/// The family fields; a table names exactly one.
const FAMILIES: [&str; 3] = ["tcp", "udp", "unix"];

/// Options and the families that take them.
const OPTIONS: [(&str, &[&str]); 4] = [
    ("backlog", &["tcp", "unix"]),
    ("reuseaddr", &["tcp", "udp"]),
    ("type", &["unix"]),
    ("mode", &["unix"]),
];

/// Largest backlog a script may ask for; the kernel lowers it further to
/// `net.core.somaxconn`.
const MAX_BACKLOG: i64 = 65535;

/// Adds the natives behind `L4.socket` and the socket methods.
pub(crate) fn add(lua: &Lua, host: &crate::HostRef, t: &Table) -> mlua::Result<()> {
    t.set("socket", crate::native(lua, host, socket)?)?;
    t.set("sock_address", crate::native(lua, host, address)?)?;
    t.set("sock_protocol", crate::native(lua, host, protocol)?)?;
    t.set("sock_listening", crate::native(lua, host, listening)?)?;
    Ok(())
}

fn field_err(field: &str, msg: impl std::fmt::Display) -> Fail {
    bad_arg(1, FUNC, format!("{field}: {msg}"))
}

fn field_type(field: &str, want: &str, got: &Value) -> Fail {
    field_err(field, format!("{want} expected, got {}", type_name(got)))
}

/// `L4.socket{ tcp = "127.0.0.1:8080" }` and its siblings: a new socket cap
/// with `rws`, bound (and listening unless it is a datagram socket).
fn socket(lua: &Lua, vals: MultiValue) -> Res<Value> {
    let args = Args::new(FUNC, vals, 0);
    let t = args.table(1)?;
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let known = match &k {
            Value::String(s) => {
                let s = s.to_str()?;
                FAMILIES.contains(&&*s) || OPTIONS.iter().any(|(o, _)| *o == &*s)
            }
            _ => false,
        };
        if !known {
            let shown = match &k {
                Value::String(s) => format!("'{}'", socket::quoted(&s.to_string_lossy())),
                other => format!("of type {}", type_name(other)),
            };
            return Err(bad_arg(1, FUNC, format!("unknown field {shown}")));
        }
    }
    let mut given = Vec::new();
    for family in FAMILIES {
        match t.raw_get::<Value>(family)? {
            Value::Nil => {}
            Value::String(s) => given.push((family, s.to_str()?.to_owned())),
            other => return Err(field_type(family, "string", &other)),
        }
    }
    let (family, addr) = match given.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(bad_arg(
                1,
                FUNC,
                "one of the fields 'tcp', 'udp' or 'unix' is needed",
            ));
        }
        [a, b, ..] => {
            return Err(bad_arg(
                1,
                FUNC,
                format!(
                    "'{}' and '{}' both given; a socket has one family",
                    a.0, b.0
                ),
            ));
        }
    };
    for (option, families) in OPTIONS {
        if !families.contains(&family) && !t.raw_get::<Value>(option)?.is_nil() {
            return Err(field_err(
                option,
                format!("not an option of a {family} socket"),
            ));
        }
    }
    let spec = spec(&t, family, &addr)?;
    let sock = Socket::bind(&spec).map_err(|e| {
        let field = match e {
            SocketError::Mode { .. } => "mode",
            _ => family,
        };
        field_err(field, chain(&e))
    })?;
    Ok(push(lua, Cap::new(Object::Socket(sock), Rights::RWS))?)
}

/// The checked socket description of a table whose family is `family`.
fn spec(t: &Table, family: &str, addr: &str) -> Res<Spec> {
    let reuseaddr = match t.raw_get::<Value>("reuseaddr")? {
        Value::Nil => None,
        Value::Boolean(b) => Some(b),
        other => return Err(field_type("reuseaddr", "boolean", &other)),
    };
    let backlog = match t.raw_get::<Value>("backlog")? {
        Value::Nil => DEFAULT_BACKLOG,
        v => {
            let n = lunatik::integer_of(&v).map_err(|_| field_type("backlog", "integer", &v))?;
            if !(0..=MAX_BACKLOG).contains(&n) {
                return Err(field_err(
                    "backlog",
                    format!("{n} is out of range 0..{MAX_BACKLOG}"),
                ));
            }
            n as i32
        }
    };
    let inet = |s: &str| socket::parse_inet(s).map_err(|e| field_err(family, e));
    Ok(match family {
        // SO_REUSEADDR is on for TCP unless turned off, as systemd has it,
        // so a restarted ned can bind while old connections are in
        // TIME_WAIT. On UDP it would let a second socket share the port.
        "tcp" => Spec::Tcp {
            addr: inet(addr)?,
            backlog,
            reuseaddr: reuseaddr.unwrap_or(true),
        },
        "udp" => Spec::Udp {
            addr: inet(addr)?,
            reuseaddr: reuseaddr.unwrap_or(false),
        },
        _ => {
            let ty = match t.raw_get::<Value>("type")? {
                Value::Nil => UnixType::Stream,
                Value::String(s) => match &*s.to_str()? {
                    "stream" => UnixType::Stream,
                    "dgram" => UnixType::Datagram,
                    "seqpacket" => UnixType::Seqpacket,
                    other => {
                        return Err(field_err(
                            "type",
                            format!(
                                "'{}' is not 'stream', 'dgram' or 'seqpacket'",
                                socket::quoted(other)
                            ),
                        ));
                    }
                },
                other => return Err(field_type("type", "string", &other)),
            };
            if ty == UnixType::Datagram && !t.raw_get::<Value>("backlog")?.is_nil() {
                return Err(field_err("backlog", "a datagram socket does not listen"));
            }
            let addr = socket::parse_unix(addr).map_err(|e| field_err("unix", e))?;
            let mode = match t.raw_get::<Value>("mode")? {
                Value::Nil => None,
                Value::String(s) if addr.path().is_some() => {
                    Some(socket::parse_mode(&s.to_str()?).map_err(|e| field_err("mode", e))?)
                }
                Value::String(_) => {
                    return Err(field_err("mode", "an abstract socket has no file"));
                }
                other => return Err(field_type("mode", "octal string like '0660'", &other)),
            };
            Spec::Unix {
                addr,
                ty,
                backlog,
                mode,
            }
        }
    })
}

fn socket_of<'c>(cap: &'c Cap, func: &str) -> Res<&'c Socket> {
    match &*cap.object {
        Object::Socket(s) => Ok(s),
        _ => Err(bad_arg(0, func, "socket expected")),
    }
}

/// `sock:address()`: the bound address, or nil for an unbound socket.
fn address(_: &Lua, vals: MultiValue) -> Res<Option<String>> {
    let args = Args::new("address", vals, 1);
    let cap = cap_arg(&args, 0)?;
    Ok(socket_of(&cap, "address")?.address())
}

/// `sock:protocol()`: `"tcp"`, `"udp"`, `"unix-stream"`, ...
fn protocol(_: &Lua, vals: MultiValue) -> Res<String> {
    let args = Args::new("protocol", vals, 1);
    let cap = cap_arg(&args, 0)?;
    Ok(socket_of(&cap, "protocol")?.protocol().to_string())
}

/// `sock:listening()`: whether the socket accepts connections.
fn listening(_: &Lua, vals: MultiValue) -> Res<bool> {
    let args = Args::new("listening", vals, 1);
    let cap = cap_arg(&args, 0)?;
    Ok(socket_of(&cap, "listening")?.listening())
}
