//! How native functions report errors to scripts.
//!
//! mlua raises a Rust error as a userdata wrapped in a traceback, which upstream
//! scripts cannot `match` and which could not carry upstream's error tables
//! (`{msg = ..., code = -errno}`). So every native returns `true, results...`
//! or `false, error_value`, and the Lua half of `L4` (lua/L4.lua, `lift`) turns
//! the latter into an error raised at the script's own line (`raise`, which
//! asks [`script_level`] for the first frame outside L4.lua): a plain string
//! with the script's file and line, or the table itself.

use mlua::{IntoLua, IntoLuaMulti, Lua, MultiValue, Value};

/// A failure as the script will see it.
#[derive(Debug)]
pub enum Fail {
    /// Raised as a string.
    Msg(String),
    /// Raised as `{msg = ..., code = ...}`, as upstream's factories do.
    Code(String, i64),
    /// An mlua error while talking to Lua itself (e.g. out of memory).
    Lua(mlua::Error),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Lua(e)
    }
}

pub type Res<T> = Result<T, Fail>;

/// Renders an error with its whole `source()` chain, as one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

/// `bad argument #n to 'f' (msg)` — Lua's own wording.
pub fn bad_arg(n: usize, func: &str, msg: impl std::fmt::Display) -> Fail {
    Fail::Msg(format!("bad argument #{n} to '{func}' ({msg})"))
}

/// `bad argument #n to 'f' (<what>, got <type>)`, for a field of a table
/// argument that has the wrong type.
pub fn field_err(n: usize, func: &str, what: &str, got: &Value) -> Fail {
    bad_arg(n, func, format!("{what}, got {}", type_name(got)))
}

/// `bad argument #n to 'f' (<want> expected, got <type>)`.
pub fn type_err(n: usize, func: &str, want: &str, got: &Value) -> Fail {
    bad_arg(n, func, format!("{want} expected, got {}", type_name(got)))
}

/// The Lua type name of a value: one definition for ned and Lunatik.
pub use lunatik::type_name;

/// The chunk name of lua/L4.lua; frames of that chunk are ned's, not the
/// script's.
pub const L4_CHUNK: &str = "=L4.lua";

/// A frame of the script's own code: its stack level counted from the
/// running native (level 1 is the native's caller, as `error` counts from
/// the function that calls it), its printable chunk name and current line.
pub struct ScriptFrame {
    pub level: usize,
    pub src: String,
    pub line: Option<usize>,
}

/// The nearest caller of the running native that is neither a C function
/// (`pcall`, a metamethod trampoline) nor code of L4.lua: the line a message
/// about the call should name. None when ned itself called in (an exit
/// handler dispatched by the loop).
pub fn script_frame(lua: &Lua) -> Option<ScriptFrame> {
    (1..)
        .map_while(|level| {
            lua.inspect_stack(level, |d| {
                let s = d.source();
                let ours = s.what == "C" || s.source.as_deref() == Some(L4_CHUNK);
                (!ours).then(|| ScriptFrame {
                    level,
                    src: s.short_src.as_deref().unwrap_or("?").to_owned(),
                    line: d.current_line(),
                })
            })
        })
        .flatten()
        .next()
}

/// `core.script_level()`: the level for `error(msg, level)` in L4.lua's
/// `raise` (0, no position, when no script frame is on the stack).
pub fn script_level(lua: &Lua, _: MultiValue) -> Res<i64> {
    Ok(script_frame(lua).map_or(0, |f| f.level as i64))
}

/// Converts a native's result into the `ok, ...` convention described above.
pub fn finish<R: IntoLuaMulti>(lua: &Lua, r: Res<R>) -> mlua::Result<MultiValue> {
    match r {
        Ok(v) => {
            let mut out = v.into_lua_multi(lua)?;
            out.push_front(Value::Boolean(true));
            Ok(out)
        }
        Err(f) => (false, failure(lua, f)?).into_lua_multi(lua),
    }
}

/// [`finish`] for a native with one result, as a pair that mlua pushes as
/// it is (no [`MultiValue`] is built: `create` is called in loops).
pub fn finish_one(lua: &Lua, r: Res<Value>) -> mlua::Result<(bool, Value)> {
    match r {
        Ok(v) => Ok((true, v)),
        Err(f) => Ok((false, failure(lua, f)?)),
    }
}

/// The error value of a failure: a string, or the `{msg, code}` table.
fn failure(lua: &Lua, f: Fail) -> mlua::Result<Value> {
    match f {
        Fail::Msg(m) => m.into_lua(lua),
        Fail::Code(msg, code) => {
            let t = lua.create_table()?;
            t.set("msg", msg)?;
            t.set("code", code)?;
            Ok(Value::Table(t))
        }
        Fail::Lua(e) => lua_message(&e).into_lua(lua),
    }
}

/// The message of an mlua error without mlua's own decoration.
///
/// mlua appends a `stack traceback:` to errors raised in Lua code; upstream
/// Ned prints `lua error: <msg>` alone, and a message handed back to a
/// script should not carry one either, so it is cut off.
pub fn lua_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m
            .split_once("\nstack traceback:")
            .map_or(m.as_str(), |(head, _)| head)
            .to_owned(),
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", lua_message(cause)),
        other => chain(other),
    }
}

/// Positional arguments of a native, with typed accessors that produce
/// Lua-style messages. Numbering is as the script wrote the call: for a
/// method, argument #1 is the first one after `self`.
pub struct Args<'a> {
    pub func: &'a str,
    vals: Vec<Value>,
    /// How many leading values are not counted (the method's `self`).
    skip: usize,
}

impl<'a> Args<'a> {
    pub fn new(func: &'a str, vals: MultiValue, skip: usize) -> Args<'a> {
        Args {
            func,
            vals: vals.into_vec(),
            skip,
        }
    }

    /// The value at script position `n` (nil when absent).
    pub fn get(&self, n: usize) -> &Value {
        self.vals.get(n + self.skip - 1).unwrap_or(&Value::Nil)
    }

    /// The arguments before the first script-visible `nil`, as upstream
    /// reads a variable argument list; `self` is kept whatever it is.
    pub fn until_nil(mut self) -> Args<'a> {
        if let Some(i) = self.vals.iter().skip(self.skip).position(Value::is_nil) {
            self.vals.truncate(self.skip + i);
        }
        self
    }

    /// Number of script-visible arguments.
    pub fn len(&self) -> usize {
        self.vals.len().saturating_sub(self.skip)
    }

    /// The values from script position `n` on.
    pub fn rest(&self, n: usize) -> &[Value] {
        let from = (n + self.skip - 1).min(self.vals.len());
        &self.vals[from..]
    }

    pub fn string(&self, n: usize) -> Res<String> {
        match self.get(n) {
            Value::String(s) => Ok(s.to_str()?.to_owned()),
            Value::Integer(i) => Ok(i.to_string()),
            Value::Number(f) => Ok(f.to_string()),
            other => Err(type_err(n, self.func, "string", other)),
        }
    }

    /// An integer, by the rules every binding uses ([`lunatik::integer_of`]).
    pub fn integer(&self, n: usize) -> Res<i64> {
        lunatik::integer_of(self.get(n)).map_err(|e| match e {
            lunatik::NotInteger::NoRepresentation => {
                bad_arg(n, self.func, "number has no integer representation")
            }
            lunatik::NotInteger::NotANumber => type_err(n, self.func, "number", self.get(n)),
        })
    }

    pub fn table(&self, n: usize) -> Res<mlua::Table> {
        match self.get(n) {
            Value::Table(t) => Ok(t.clone()),
            other => Err(type_err(n, self.func, "table", other)),
        }
    }
}
