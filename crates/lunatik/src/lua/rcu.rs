//! `rcu` module and the `rcu` class: Lua access to [`RcuMap`] tables of
//! shareable values, and the process-wide `lunatik._ENV`.

use std::sync::{Arc, LazyLock};

use mlua::{AnyUserData, Lua, MultiValue, Value};

use super::class::{Handle, LuaClass, Method, from_shared, push_object, raw_method_fn, to_shared};
use super::{Args, function, none, ret};
use crate::error::Raise;
use crate::object::{Object, Shared};
use crate::rcu::{DEFAULT_BUCKETS, RcuError, RcuMap};
use crate::stats::{Kind, Live};

/// An rcu table.
pub struct RcuTable {
    map: RcuMap<Shared>,
    _live: Live,
}

impl Object for RcuTable {
    fn class(&self) -> &'static str {
        "rcu"
    }
}

impl RcuTable {
    /// A table with `size` buckets (rounded up to a power of two).
    pub fn new(size: i64) -> Result<Self, RcuError> {
        Ok(RcuTable {
            map: RcuMap::new(size)?,
            _live: Live::new(Kind::Rcu),
        })
    }

    /// The Lua-free map.
    pub fn map(&self) -> &RcuMap<Shared> {
        &self.map
    }
}

static ENV: LazyLock<Arc<RcuTable>> = LazyLock::new(|| {
    Arc::new(RcuTable {
        map: RcuMap::new(DEFAULT_BUCKETS as i64).unwrap_or_else(|_| unreachable!()),
        _live: Live::new(Kind::Rcu),
    })
});

/// The process-wide table seen as `lunatik._ENV` everywhere.
pub fn env() -> Arc<RcuTable> {
    ENV.clone()
}

/// Runs `f` on the key bytes of `v` (strings, or numbers converted as Lua's
/// `tostring` does).
fn with_key<R>(lua: &Lua, v: Option<&Value>, f: impl FnOnce(&[u8]) -> R) -> Result<R, Raise> {
    match v {
        Some(Value::String(s)) => Ok(f(&s.as_bytes())),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(v.clone())? {
            Some(s) => Ok(f(&s.as_bytes())),
            None => Err(Raise::new("invalid rcu key")),
        },
        other => Err(Raise::new(format!(
            "invalid rcu key (string expected, got {})",
            other.map_or("no value", super::args::type_name)
        ))),
    }
}

fn index(lua: &Lua, t: &Arc<RcuTable>, args: Args) -> Result<MultiValue, Raise> {
    let v = with_key(lua, args.get(1), |k| {
        t.map.read(k, |v| v.map(|v| from_shared(lua, v)))
    })?;
    Ok(ret([v.transpose()?.unwrap_or(Value::Nil)]))
}

fn newindex(lua: &Lua, t: &Arc<RcuTable>, args: Args) -> Result<MultiValue, Raise> {
    let value = match args.get(2).map(to_shared).transpose() {
        Ok(Some(Shared::Nil) | None) => None,
        Ok(Some(s)) => Some(s),
        Err(r) => {
            return Err(match r {
                super::class::Refusal::Type(ty) => {
                    Raise::new(format!("invalid rcu value ({ty} cannot be shared)"))
                }
                single => single.arg(2, "__newindex"),
            });
        }
    };
    let old = with_key(lua, args.get(1), |k| t.map.set(k, value))?;
    drop(old);
    Ok(none())
}

impl LuaClass for RcuTable {
    const NAME: &'static str = "rcu";
    fn metamethods() -> &'static [(&'static str, Method<Self>)] {
        &[("__index", index), ("__newindex", newindex)]
    }
    /// Reads take the raw C path of [`super::rcu_raw`], with `index` (as a
    /// raw binding) behind it for everything the fast path does not serve.
    fn index_override(lua: &Lua, _generic: Value) -> mlua::Result<Value> {
        let slow = raw_method_fn::<Self>(lua, "__index", index)?;
        super::rcu_raw::index_function(lua, slow).map(Value::Function)
    }
    fn attach(lua: &Lua, ud: &AnyUserData, object: &Arc<Self>) -> mlua::Result<()> {
        super::rcu_raw::attach(lua, ud, object)
    }
}

fn new_table(lua: &Lua, args: Args) -> Result<MultiValue, Raise> {
    let size = args.opt_integer(1)?.unwrap_or(DEFAULT_BUCKETS as i64);
    let t = RcuTable::new(size).map_err(|e| match e {
        RcuError::NoMemory => Raise::new(e.to_string()),
        RcuError::BadSize => args.bad(1, e),
    })?;
    Ok(ret([push_object(lua, Arc::new(t)).map_err(Raise::from)?]))
}

fn map(lua: &Lua, args: Args) -> Result<MultiValue, Raise> {
    let t = match args.get(1) {
        Some(Value::UserData(ud)) => ud.borrow::<Handle<RcuTable>>().ok().map(|h| h.0.clone()),
        _ => None,
    }
    .ok_or_else(|| args.expected(1, "rcu"))?;
    let f = args.function(2)?;
    for (k, v) in t.map.snapshot() {
        let k = lua.create_string(&k)?;
        let v = from_shared(lua, &v)?;
        f.call::<()>((k, v))?;
    }
    Ok(none())
}

/// Builds the `rcu` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("table", function(lua, "table", new_table)?)?;
    t.set("map", function(lua, "map", map)?)?;
    Ok(t)
}
