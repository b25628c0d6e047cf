//! `create(proto, args...)` on ned's own factories (spec §7), without Lua:
//! the script's `factory:create` and a task's `create` request both land
//! here, with their arguments as [`Arg`]s. Errors carry upstream's
//! `{msg, code = -errno}` pair.
//!
//! A factory may have a byte [`Quota`]: every dataspace made by it or by
//! any factory below it is charged to it and to every quota above, and the
//! bytes come back when the dataspace object is gone ([`Charge`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cap::{Cap, CapError, Object};
use crate::log::Color;
use crate::rights::Rights;

/// An argument of `create`, from a script or a protocol message.
#[derive(Clone, Debug)]
pub enum Arg {
    Nil,
    Int(i64),
    /// A number with no integer representation.
    Num(f64),
    Str(Vec<u8>),
    Cap(Cap),
    /// A value of another type, by its type name (for the error).
    Other(&'static str),
}

impl Arg {
    pub fn type_name(&self) -> &'static str {
        match self {
            Arg::Nil => "nil",
            Arg::Int(_) | Arg::Num(_) => "number",
            Arg::Str(_) => "string",
            Arg::Cap(_) => "userdata",
            Arg::Other(t) => t,
        }
    }
}

/// A failed create: upstream's message and `-errno`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct CreateError {
    pub msg: String,
    pub code: i32,
}

fn fail(msg: impl Into<String>, code: i32) -> CreateError {
    CreateError {
        msg: msg.into(),
        code,
    }
}

const EPERM: i32 = -1;
const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;
const ENOSYS: i32 = -38;

/// A factory's byte budget, shared by everything made below it.
#[derive(Debug)]
pub struct Quota {
    limit: u64,
    used: AtomicU64,
    parent: Option<Arc<Quota>>,
}

impl Quota {
    /// Bytes still free here (not counting the quotas above).
    pub fn left(&self) -> u64 {
        self.limit.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Bytes a new dataspace may still take: the least left here or in any
    /// quota above.
    pub fn available(&self) -> u64 {
        let mut least = self.left();
        let mut q = self.parent.as_deref();
        while let Some(cur) = q {
            least = least.min(cur.left());
            q = cur.parent.as_deref();
        }
        least
    }

    fn take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(bytes).filter(|n| *n <= self.limit)
            })
            .is_ok()
    }

    fn give(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// Bytes charged to a chain of quotas, returned on drop.
#[derive(Debug)]
pub struct Charge {
    quota: Arc<Quota>,
    bytes: u64,
}

impl Charge {
    /// Charges `bytes` to `quota` and every quota above it, or to none.
    fn new(quota: &Arc<Quota>, bytes: u64) -> Option<Charge> {
        let mut done: Vec<&Quota> = Vec::new();
        let mut q = Some(quota.as_ref());
        while let Some(cur) = q {
            if !cur.take(bytes) {
                for d in done {
                    d.give(bytes);
                }
                return None;
            }
            done.push(cur);
            q = cur.parent.as_deref();
        }
        Some(Charge {
            quota: Arc::clone(quota),
            bytes,
        })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let mut q = Some(self.quota.as_ref());
        while let Some(cur) = q {
            cur.give(self.bytes);
            q = cur.parent.as_deref();
        }
    }
}

/// Upper bound for a dataspace: more is refused up front rather than left
/// to fail later on first touch.
const MAX_DATASPACE: i64 = 1 << 40;

/// Longest log tag.
const MAX_LOG_TAG: usize = 64;

/// The tag and colour of a log sink, checked alike for a start table's
/// `log = {tag, color}` and `create(L4.Proto.Log, tag, color)`: a tag of one
/// line (default `default_tag`), a colour name or letter or 0-15. An empty,
/// unknown or out-of-range colour is the default colour (white), as
/// upstream's log server takes it; only a colour of another type than
/// string or number is an error. The error is the bare message.
pub fn log_spec(tag: &Arg, color: &Arg, default_tag: &str) -> Result<(String, Color), String> {
    let tag = match tag {
        Arg::Nil => default_tag.to_owned(),
        Arg::Str(s) => String::from_utf8_lossy(s).into_owned(),
        other => {
            return Err(format!(
                "log tag must be a string, got {}",
                other.type_name()
            ));
        }
    };
    if tag.len() > MAX_LOG_TAG || tag.contains(['\n', '\0']) {
        return Err(format!(
            "log tag must be one line of at most {MAX_LOG_TAG} bytes"
        ));
    }
    let color = match color {
        Arg::Nil | Arg::Num(_) => None,
        Arg::Str(s) => Color::parse(&String::from_utf8_lossy(s)),
        Arg::Int(i) => u8::try_from(*i).ok().filter(|c| *c < 16).map(Color),
        other => {
            return Err(format!(
                "log color must be a string or number, got {}",
                other.type_name()
            ));
        }
    };
    Ok((tag, color.unwrap_or(Color::WHITE)))
}

/// The arguments of one create after the protocol, cut at the first nil;
/// numbered as the script sees them (the protocol is #1, so the first of
/// these is #2).
struct Args<'a>(&'a [Arg]);

impl Args<'_> {
    fn get(&self, n: usize) -> &Arg {
        n.checked_sub(2)
            .and_then(|i| self.0.get(i))
            .unwrap_or(&Arg::Nil)
    }

    /// Argument `n` (counting the protocol as 1, as the script sees it).
    fn int(&self, n: usize) -> Result<i64, CreateError> {
        match self.get(n) {
            Arg::Int(i) => Ok(*i),
            Arg::Num(_) => Err(fail(
                format!("bad argument #{n} to 'create' (number has no integer representation)"),
                EINVAL,
            )),
            other => Err(fail(
                format!(
                    "bad argument #{n} to 'create' (number expected, got {})",
                    other.type_name()
                ),
                EINVAL,
            )),
        }
    }

    fn opt_int(&self, n: usize) -> Result<Option<i64>, CreateError> {
        match self.get(n) {
            Arg::Nil => Ok(None),
            _ => self.int(n).map(Some),
        }
    }
}

/// `fab:create(proto, args...)` on one of ned's factories; `args` holds the
/// arguments after the protocol, already cut at the first nil.
pub fn create(fab: &Cap, proto: i64, args: &[Arg]) -> Result<Object, CreateError> {
    let Object::Factory(quota) = &*fab.object else {
        return Err(fail(
            format!("create: a {} is not a factory", fab.kind()),
            ENOSYS,
        ));
    };
    if !fab.rights.has(Rights::S) {
        return Err(fail("create: factory cap lacks the 's' right", EPERM));
    }
    let cut = args
        .iter()
        .position(|v| matches!(v, Arg::Nil))
        .unwrap_or(args.len());
    let a = Args(&args[..cut]);
    match proto {
        0x4000 => create_dataspace(&a, quota.as_ref()),
        0x4001 => Ok(Object::namespace()),
        -15 => {
            let limit = match a.opt_int(2)? {
                Some(q) if q < 0 => {
                    return Err(fail(format!("create: invalid quota {q}"), EINVAL));
                }
                Some(q) => Some(q as u64),
                None => None,
            };
            let sub = match (limit, quota) {
                (Some(limit), parent) => Some(Arc::new(Quota {
                    limit,
                    used: AtomicU64::new(0),
                    parent: parent.clone(),
                })),
                (None, parent) => parent.clone(),
            };
            Ok(Object::Factory(sub))
        }
        -13 => {
            let (tag, color) = log_spec(a.get(2), a.get(3), "log")
                .map_err(|m| fail(format!("create: {m}"), EINVAL))?;
            Ok(Object::Log(Some((tag, color))))
        }
        -14 => create_scheduler(&a),
        -20 => Object::event(false).map_err(os_fail),
        -18 => Object::event(true).map_err(os_fail),
        0 => Object::channel().map_err(os_fail),
        other => Err(fail(
            format!("create: protocol {other} is not supported on Linux"),
            ENOSYS,
        )),
    }
}

/// A cap error as `{msg, code = -errno}`.
fn os_fail(e: CapError) -> CreateError {
    let code = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(std::io::Error::raw_os_error)
        .unwrap_or(libc::EIO);
    fail(super::chain(&e), -code)
}

/// `create(L4.Proto.Dataspace, size[, flags[, align]])`.
fn create_dataspace(a: &Args<'_>, quota: Option<&Arc<Quota>>) -> Result<Object, CreateError> {
    let size = a.int(2)?;
    if !(0..=MAX_DATASPACE).contains(&size) {
        return Err(fail(
            format!("create: invalid dataspace size {size}"),
            EINVAL,
        ));
    }
    let flags = a.opt_int(3)?.unwrap_or(0);
    if !(0..=7).contains(&flags) {
        return Err(fail(
            format!("create: invalid dataspace flags {flags}"),
            EINVAL,
        ));
    }
    a.opt_int(4)?;
    let charge = match quota {
        Some(q) => Some(Charge::new(q, size as u64).ok_or_else(|| {
            fail(
                format!(
                    "create: dataspace of {size} bytes exceeds the factory's quota ({} bytes left)",
                    q.available()
                ),
                ENOMEM,
            )
        })?),
        None => None,
    };
    Object::dataspace_charged(size as u64, charge).map_err(os_fail)
}

/// `create(L4.Proto.Scheduler, prio_limit, prio_base, cpu_words...)`.
fn create_scheduler(a: &Args<'_>) -> Result<Object, CreateError> {
    // Upstream priorities are 0..=255; anything else is a script bug.
    let prio = |n: usize| -> Result<i64, CreateError> {
        let p = a.opt_int(n)?.unwrap_or(0);
        if !(0..=255).contains(&p) {
            return Err(fail(
                format!("create: scheduler priority {p} out of range 0..255"),
                EINVAL,
            ));
        }
        Ok(p)
    };
    let prio_limit = prio(2)?;
    let prio_base = prio(3)?;
    let words = a.0.get(2..).unwrap_or(&[]);
    let mut cpus = Vec::new();
    for (word_idx, v) in words.iter().enumerate() {
        let Arg::Int(word) = v else {
            return Err(fail(
                format!(
                    "bad argument #{} to 'create' (number expected, got {})",
                    4 + word_idx,
                    v.type_name()
                ),
                EINVAL,
            ));
        };
        for bit in 0..64 {
            if word >> bit & 1 == 1 {
                cpus.push(word_idx * 64 + bit);
            }
        }
    }
    Ok(Object::Scheduler {
        prio_limit,
        prio_base,
        cpus: (!words.is_empty()).then_some(cpus),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(limit: Option<u64>) -> Cap {
        let q = limit.map(|limit| {
            Arc::new(Quota {
                limit,
                used: AtomicU64::new(0),
                parent: None,
            })
        });
        Cap::new(Object::Factory(q), Rights::RWS)
    }

    #[test]
    fn quota_covers_sub_factories_and_returns_on_drop() {
        let fab = root(Some(10_000));
        let sub = Cap::new(create(&fab, -15, &[]).unwrap(), Rights::RWS);
        let small = Cap::new(create(&sub, -15, &[Arg::Int(8192)]).unwrap(), Rights::RWS);
        let a = create(&fab, 0x4000, &[Arg::Int(6000)]).unwrap();
        // 4000 left at the top, though `small` alone would allow 8192.
        let e = create(&small, 0x4000, &[Arg::Int(5000)]).unwrap_err();
        assert_eq!(e.code, ENOMEM, "{e}");
        let b = create(&small, 0x4000, &[Arg::Int(4000)]).unwrap();
        assert!(create(&sub, 0x4000, &[Arg::Int(1)]).is_err());
        drop(a);
        let c = create(&sub, 0x4000, &[Arg::Int(6000)]).unwrap();
        drop((b, c));
        assert!(create(&fab, 0x4000, &[Arg::Int(10_000)]).is_ok());
    }

    #[test]
    fn arguments_end_at_the_first_nil_and_errors_have_codes() {
        let fab = root(None);
        assert!(
            create(
                &fab,
                -14,
                &[Arg::Int(10), Arg::Int(0), Arg::Nil, Arg::Str(b"x".to_vec())]
            )
            .is_ok()
        );
        assert_eq!(create(&fab, -16, &[]).unwrap_err().code, ENOSYS);
        assert_eq!(
            create(&fab, 0x4000, &[Arg::Int(-1)]).unwrap_err().code,
            EINVAL
        );
        let e = create(&fab, 0x4000, &[Arg::Str(b"x".to_vec())]).unwrap_err();
        assert_eq!(
            e.msg,
            "bad argument #2 to 'create' (number expected, got string)"
        );
        let weak = fab.with_rights(Rights::READ);
        assert_eq!(create(&weak, 0x4001, &[]).unwrap_err().code, EPERM);
    }
}
