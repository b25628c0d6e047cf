//! `completion` module and the `completion` class.

use std::sync::Arc;
use std::time::Duration;

use mlua::{Lua, MultiValue, Value};

use super::class::{LuaClass, Method, push_object};
use super::data::parse_mode;
use super::{Args, function, may_block, none, ret};
use crate::completion::Completion;
use crate::error::Raise;
use crate::object::Object;
use crate::stats::{Kind, Live};

/// A `completion` object.
pub struct CompletionObj {
    c: Completion,
    single: bool,
    _live: Live,
}

impl Object for CompletionObj {
    fn class(&self) -> &'static str {
        "completion"
    }
    fn is_single(&self) -> bool {
        self.single
    }
}

type Outcome = Result<MultiValue, Raise>;

fn complete(_: &Lua, c: &Arc<CompletionObj>, _: Args) -> Outcome {
    c.c.complete();
    Ok(none())
}

fn wait(lua: &Lua, c: &Arc<CompletionObj>, a: Args) -> Outcome {
    may_block(lua, "completion:wait")?;
    let timeout = match a.opt_integer(1)? {
        None => None,
        Some(ms) => Some(Duration::from_millis(
            u64::try_from(ms).map_err(|_| a.bad(1, "timeout must not be negative"))?,
        )),
    };
    if c.c.wait(timeout) {
        Ok(ret([Value::Boolean(true)]))
    } else {
        Ok(ret([
            Value::Nil,
            Value::String(lua.create_string("timeout")?),
        ]))
    }
}

impl LuaClass for CompletionObj {
    const NAME: &'static str = "completion";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[("complete", complete), ("wait", wait)]
    }
}

fn new(lua: &Lua, args: Args) -> Outcome {
    let single = parse_mode(&args, 1)?;
    let obj = CompletionObj {
        c: Completion::new(),
        single,
        _live: Live::new(Kind::Completion),
    };
    Ok(ret([push_object(lua, Arc::new(obj))?]))
}

/// Builds the `completion` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("new", function(lua, "new", new)?)?;
    Ok(t)
}
