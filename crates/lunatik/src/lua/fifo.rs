//! `fifo` module and the `fifo` class: Lua access to shared byte FIFOs.

use std::sync::Arc;

use mlua::{Lua, MultiValue, Value};

use super::class::{LuaClass, Method, push_object};
use super::data::parse_mode;
use super::{Args, function, none, ret};
use crate::error::Raise;
use crate::fifo::Fifo;
use crate::object::Object;
use crate::stats::{Kind, Live};

/// A `fifo` object.
pub struct FifoObj {
    fifo: Fifo,
    single: bool,
    _live: Live,
}

impl Object for FifoObj {
    fn class(&self) -> &'static str {
        "fifo"
    }
    fn is_single(&self) -> bool {
        self.single
    }
}

type Outcome = Result<MultiValue, Raise>;

fn push(lua: &Lua, f: &Arc<FifoObj>, a: Args) -> Outcome {
    let s = a.bytes(lua, 1)?;
    f.fifo.push(&s).map_err(|e| Raise::new(e.to_string()))?;
    Ok(none())
}

fn pop(lua: &Lua, f: &Arc<FifoObj>, a: Args) -> Outcome {
    let n = a.integer(1)?;
    let n = usize::try_from(n).map_err(|_| a.bad(1, "size must not be negative"))?;
    let s = f.fifo.pop(n).map_err(|e| Raise::new(e.to_string()))?;
    let len = s.len() as i64;
    Ok(ret([
        Value::String(lua.create_string(s)?),
        Value::Integer(len),
    ]))
}

fn close(_: &Lua, f: &Arc<FifoObj>, _: Args) -> Outcome {
    f.fifo.close();
    Ok(none())
}

fn len(_: &Lua, f: &Arc<FifoObj>, _: Args) -> Outcome {
    Ok(ret([Value::Integer(f.fifo.len() as i64)]))
}

impl LuaClass for FifoObj {
    const NAME: &'static str = "fifo";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[("push", push), ("pop", pop), ("close", close)]
    }
    fn metamethods() -> &'static [(&'static str, Method<Self>)] {
        &[("__len", len)]
    }
    fn describe(&self) -> String {
        format!(" ({}/{} bytes)", self.fifo.len(), self.fifo.capacity())
    }
}

fn new(lua: &Lua, args: Args) -> Outcome {
    let n = args.integer(1)?;
    let single = parse_mode(&args, 2)?;
    let fifo = Fifo::new(n).map_err(|e| args.bad(1, e))?;
    Ok(ret([push_object(
        lua,
        Arc::new(FifoObj {
            fifo,
            single,
            _live: Live::new(Kind::Fifo),
        }),
    )?]))
}

/// Builds the `fifo` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("new", function(lua, "new", new)?)?;
    Ok(t)
}
