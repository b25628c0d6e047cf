//! `data` module and the `data` class: Lua access to shared byte buffers.
//! Offsets are 0-based; every access is bounds-checked.

use std::sync::Arc;

use mlua::{Lua, MultiValue, Value};

use super::class::{LuaClass, Method, push_object};
use super::{Args, function, none, ret};
use crate::data::Data;
use crate::error::Raise;
use crate::object::Object;
use crate::stats::{Kind, Live};

/// A `data` object.
pub struct DataObj {
    data: Data,
    single: bool,
    _live: Live,
}

impl Object for DataObj {
    fn class(&self) -> &'static str {
        "data"
    }
    fn is_single(&self) -> bool {
        self.single
    }
}

impl DataObj {
    /// The Lua-free buffer.
    pub fn data(&self) -> &Data {
        &self.data
    }
}

/// Parses an optional `"shared"|"single"` argument; `true` for single.
pub(crate) fn parse_mode(args: &Args, n: usize) -> Result<bool, Raise> {
    match args.get(n) {
        None | Some(Value::Nil) => Ok(false),
        Some(Value::String(s)) => match &*s.as_bytes() {
            b"shared" => Ok(false),
            b"single" => Ok(true),
            _ => Err(args.bad(n, "invalid option (expected 'shared' or 'single')")),
        },
        Some(_) => Err(args.expected(n, "string")),
    }
}

type Outcome = Result<MultiValue, Raise>;

macro_rules! ints {
    ($($get:ident $set:ident $t:ty;)*) => {$(
        fn $get(_: &Lua, d: &Arc<DataObj>, a: Args) -> Outcome {
            let off = a.integer(1)?;
            let b = d.data.read::<{ std::mem::size_of::<$t>() }>(off).map_err(|e| a.bad(1, e))?;
            Ok(ret([Value::Integer(<$t>::from_ne_bytes(b) as i64)]))
        }
        fn $set(_: &Lua, d: &Arc<DataObj>, a: Args) -> Outcome {
            let off = a.integer(1)?;
            let v = a.integer(2)?;
            d.data.write(off, &(v as $t).to_ne_bytes()).map_err(|e| a.bad(1, e))?;
            Ok(none())
        }
    )*};
}

ints! {
    getbyte setbyte u8;
    getint8 setint8 i8;
    getuint8 setuint8 u8;
    getint16 setint16 i16;
    getuint16 setuint16 u16;
    getint32 setint32 i32;
    getuint32 setuint32 u32;
    getint64 setint64 i64;
    getnumber setnumber i64;
}

fn getstring(lua: &Lua, d: &Arc<DataObj>, a: Args) -> Outcome {
    let off = a.integer(1)?;
    let len = a.opt_integer(2)?;
    let s = d.data.get_string(off, len).map_err(|e| a.bad(1, e))?;
    Ok(ret([Value::String(lua.create_string(s)?)]))
}

fn setstring(lua: &Lua, d: &Arc<DataObj>, a: Args) -> Outcome {
    let off = a.integer(1)?;
    let s = a.bytes(lua, 2)?;
    d.data.write(off, &s).map_err(|e| a.bad(1, e))?;
    Ok(none())
}

fn resize(_: &Lua, d: &Arc<DataObj>, a: Args) -> Outcome {
    let n = a.integer(1)?;
    d.data.resize(n).map_err(|e| a.bad(1, e))?;
    Ok(none())
}

fn checksum(_: &Lua, d: &Arc<DataObj>, a: Args) -> Outcome {
    let off = a.opt_integer(1)?.unwrap_or(0);
    let len = a.opt_integer(2)?;
    let c = d.data.checksum(off, len).map_err(|e| a.bad(1, e))?;
    Ok(ret([Value::Integer(i64::from(c))]))
}

fn len(_: &Lua, d: &Arc<DataObj>, _: Args) -> Outcome {
    Ok(ret([Value::Integer(d.data.len() as i64)]))
}

impl LuaClass for DataObj {
    const NAME: &'static str = "data";
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[
            ("getbyte", getbyte),
            ("setbyte", setbyte),
            ("getint8", getint8),
            ("setint8", setint8),
            ("getuint8", getuint8),
            ("setuint8", setuint8),
            ("getint16", getint16),
            ("setint16", setint16),
            ("getuint16", getuint16),
            ("setuint16", setuint16),
            ("getint32", getint32),
            ("setint32", setint32),
            ("getuint32", getuint32),
            ("setuint32", setuint32),
            ("getint64", getint64),
            ("setint64", setint64),
            ("getnumber", getnumber),
            ("setnumber", setnumber),
            ("getstring", getstring),
            ("setstring", setstring),
            ("resize", resize),
            ("checksum", checksum),
        ]
    }
    fn metamethods() -> &'static [(&'static str, Method<Self>)] {
        &[("__len", len)]
    }
    fn describe(&self) -> String {
        format!(
            " ({} bytes{})",
            self.data.len(),
            if self.single { ", single" } else { "" }
        )
    }
}

fn new(lua: &Lua, args: Args) -> Outcome {
    let n = args.integer(1)?;
    let single = parse_mode(&args, 2)?;
    let data = Data::new(n).map_err(|e| args.bad(1, e))?;
    let obj = Arc::new(DataObj {
        data,
        single,
        _live: Live::new(Kind::Data),
    });
    Ok(ret([push_object(lua, obj)?]))
}

/// Builds the `data` module table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("new", function(lua, "new", new)?)?;
    Ok(t)
}
