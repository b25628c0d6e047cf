//! `set` module: compact, immutable sets of strings (upstream's API).
//!
//! A set is built once and only read afterwards, so it needs no lock and
//! is safe in non-sleepable runtimes and across runtimes (it is a shareable
//! object). Members are kept sorted in one byte blob with a `u32` end offset
//! each — about `len + 4` bytes a member, no allocation per key — and found
//! by binary search.
//!
//! - `set.new({s, ...})`: a plain set of the strings of a sequence, queried
//!   with `s:has(str)`. As upstream, the given table is sorted in place and
//!   duplicates are kept (they count in `#s`).
//! - `set.labeled({[s] = flags, ...})`: each member carries a flag mask in
//!   `[1, 2^32)`; `s:match(str)` returns the OR of the flags of `str` and of
//!   every suffix that follows a `.` in it (`"a.b.c"`, `"b.c"`, `"c"`), 0
//!   when none is a member — domain categories, rooted on the right.

use std::cmp::Ordering;
use std::sync::Arc;

use mlua::{Lua, MultiValue, Table, Value};

use super::class::{LuaClass, Method, push_object, register_class};
use super::{Args, function, ret};
use crate::error::Raise;
use crate::object::Object;
use crate::stats::{Kind, Live};

/// The sorted members, packed.
#[derive(Debug, Default)]
struct Members {
    blob: Box<[u8]>,
    /// End of member `i` in `blob`; it starts where member `i - 1` ends.
    ends: Box<[u32]>,
}

/// Why a set could not be built.
#[derive(Debug, PartialEq, Eq)]
struct TooLarge;

impl Members {
    /// Packs `keys`, already sorted.
    fn pack<'a>(keys: impl ExactSizeIterator<Item = &'a [u8]>) -> Result<Members, TooLarge> {
        let mut ends = Vec::with_capacity(keys.len());
        let mut blob = Vec::new();
        for k in keys {
            blob.extend_from_slice(k);
            ends.push(u32::try_from(blob.len()).map_err(|_| TooLarge)?);
        }
        Ok(Members {
            blob: blob.into(),
            ends: ends.into(),
        })
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn member(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.blob[start..self.ends[i] as usize]
    }

    /// The index of a member equal to `key`.
    fn find(&self, key: &[u8]) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.member(mid).cmp(key) {
                Ordering::Equal => return Some(mid),
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
            }
        }
        None
    }
}

/// A plain set.
pub struct SetObj {
    members: Members,
    _live: Live,
}

/// A labeled set: members plus one flag mask each.
pub struct LabelSet {
    members: Members,
    flags: Box<[u32]>,
    _live: Live,
}

impl LabelSet {
    /// The OR of the flags of `key` and of each suffix after a `.`.
    fn matches(&self, key: &[u8]) -> u32 {
        let mut flags = 0;
        let mut rest = key;
        loop {
            if let Some(i) = self.members.find(rest) {
                flags |= self.flags[i];
            }
            match rest.iter().position(|&b| b == b'.') {
                Some(dot) => rest = &rest[dot + 1..],
                None => return flags,
            }
        }
    }
}

impl Object for SetObj {
    fn class(&self) -> &'static str {
        "set"
    }
}

impl Object for LabelSet {
    fn class(&self) -> &'static str {
        "labelset"
    }
}

type Outcome = Result<MultiValue, Raise>;

fn has(lua: &Lua, s: &Arc<SetObj>, a: Args) -> Outcome {
    let key = a.bytes(lua, 1)?;
    Ok(ret([Value::Boolean(s.members.find(&key).is_some())]))
}

fn set_len(_: &Lua, s: &Arc<SetObj>, _: Args) -> Outcome {
    Ok(ret([Value::Integer(s.members.len() as i64)]))
}

fn matches(lua: &Lua, s: &Arc<LabelSet>, a: Args) -> Outcome {
    let key = a.bytes(lua, 1)?;
    Ok(ret([Value::Integer(i64::from(s.matches(&key)))]))
}

fn labeled_len(_: &Lua, s: &Arc<LabelSet>, _: Args) -> Outcome {
    Ok(ret([Value::Integer(s.members.len() as i64)]))
}

impl LuaClass for SetObj {
    const NAME: &'static str = "set";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[("has", has)]
    }
    fn metamethods() -> &'static [(&'static str, Method<Self>)] {
        &[("__len", set_len)]
    }
    fn describe(&self) -> String {
        format!(" ({} members)", self.members.len())
    }
}

impl LuaClass for LabelSet {
    const NAME: &'static str = "labelset";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[("match", matches)]
    }
    fn metamethods() -> &'static [(&'static str, Method<Self>)] {
        &[("__len", labeled_len)]
    }
    fn describe(&self) -> String {
        format!(" ({} members)", self.members.len())
    }
}

fn table_arg(args: &Args, n: usize) -> Result<Table, Raise> {
    match args.get(n) {
        Some(Value::Table(t)) => Ok(t.clone()),
        _ => Err(args.expected(n, "table")),
    }
}

fn new(lua: &Lua, args: Args) -> Outcome {
    let t = table_arg(&args, 1)?;
    let n = t.raw_len();
    let mut keys = Vec::with_capacity(n);
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(Raise::from)?;
        let index = match k {
            Value::Integer(i) => usize::try_from(i).ok().filter(|i| (1..=n).contains(i)),
            _ => None,
        };
        if index.is_none() {
            return Err(args.bad(1, "not a sequence"));
        }
        match v {
            Value::String(s) => keys.push(s.as_bytes().to_vec()),
            _ => return Err(args.bad(1, "members must be strings")),
        }
    }
    if keys.len() != n {
        // A hole: the border `#t` counted a slot that holds nil.
        return Err(args.bad(1, "not a sequence"));
    }
    keys.sort_unstable();
    // Upstream sorts the caller's array in place; scripts may rely on it.
    for (i, k) in keys.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(k)?)
            .map_err(Raise::from)?;
    }
    let members =
        Members::pack(keys.iter().map(|k| &k[..])).map_err(|_| args.bad(1, "table too large"))?;
    let set = SetObj {
        members,
        _live: Live::new(Kind::Set),
    };
    Ok(ret([push_object(lua, Arc::new(set))?]))
}

fn labeled(lua: &Lua, args: Args) -> Outcome {
    let t = table_arg(&args, 1)?;
    let mut pairs = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(Raise::from)?;
        let Value::String(k) = k else {
            return Err(args.bad(1, "members must be strings"));
        };
        let flag = match v {
            Value::Integer(i) => u32::try_from(i).ok().filter(|&f| f >= 1),
            _ => None,
        }
        .ok_or_else(|| args.bad(1, "flags must be integers in [1, 2^32)"))?;
        pairs.push((k.as_bytes().to_vec(), flag));
    }
    pairs.sort_unstable();
    let members = Members::pack(pairs.iter().map(|(k, _)| &k[..]))
        .map_err(|_| args.bad(1, "table too large"))?;
    let set = LabelSet {
        members,
        flags: pairs.iter().map(|&(_, f)| f).collect(),
        _live: Live::new(Kind::Set),
    };
    Ok(ret([push_object(lua, Arc::new(set))?]))
}

/// Makes both classes shareable.
pub(crate) fn classes() {
    register_class::<SetObj>();
    register_class::<LabelSet>();
}

/// Builds the `set` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("new", function(lua, "new", new)?)?;
    t.set("labeled", function(lua, "labeled", labeled)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(keys: &[&str]) -> Members {
        let mut keys = keys.to_vec();
        keys.sort();
        Members::pack(keys.iter().map(|k| k.as_bytes())).unwrap()
    }

    #[test]
    fn finds_exact_members_only() {
        let m = members(&["bb", "a", "ccc", ""]);
        for k in ["", "a", "bb", "ccc"] {
            assert!(m.find(k.as_bytes()).is_some(), "{k}");
        }
        for k in ["b", "cccc", "aa", "d"] {
            assert!(m.find(k.as_bytes()).is_none(), "{k}");
        }
        assert!(members(&[]).find(b"").is_none());
    }

    #[test]
    fn labels_union_over_suffixes() {
        let s = LabelSet {
            members: members(&["a.b.c", "b.c", "c"]),
            flags: Box::new([1, 2, 4]),
            _live: Live::new(Kind::Set),
        };
        assert_eq!(s.matches(b"a.b.c"), 7);
        assert_eq!(s.matches(b"x.a.b.c"), 7);
        assert_eq!(s.matches(b"b.c"), 6);
        assert_eq!(s.matches(b"z.c"), 4);
        assert_eq!(s.matches(b"nope"), 0);
    }
}
