//! Argument checking for bindings, producing Lua's own wording:
//! `bad argument #2 to 'new' (number expected, got table)`.

use mlua::{Lua, MultiValue, Value};

use crate::error::Raise;

/// The arguments of one call (for methods: without `self`), numbered from 1.
pub struct Args {
    name: &'static str,
    vals: MultiValue,
}

impl Args {
    pub(crate) fn new(name: &'static str, vals: MultiValue) -> Self {
        Args { name, vals }
    }

    /// Function name used in messages.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Removes and returns the first value (`self` of a method call).
    pub fn pop_front(&mut self) -> Option<Value> {
        self.vals.pop_front()
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    /// Argument `n`, `None` when absent.
    pub fn get(&self, n: usize) -> Option<&Value> {
        n.checked_sub(1).and_then(|i| self.vals.get(i))
    }

    /// Argument `n` when present and not nil.
    pub fn opt(&self, n: usize) -> Option<&Value> {
        self.get(n).filter(|v| !v.is_nil())
    }

    /// All arguments from `n` on.
    pub fn from(&self, n: usize) -> impl Iterator<Item = &Value> {
        self.vals.iter().skip(n.saturating_sub(1))
    }

    /// `bad argument #n to '<name>' (why)`.
    pub fn bad(&self, n: usize, why: impl std::fmt::Display) -> Raise {
        Raise::arg(n, self.name, why)
    }

    /// `bad argument #n to '<name>' (<expected> expected, got <type>)`.
    pub fn expected(&self, n: usize, expected: &str) -> Raise {
        let got = self.get(n).map_or("no value", type_name);
        self.bad(n, format!("{expected} expected, got {got}"))
    }

    /// An integer (floats with an exact integer value and numeric strings
    /// are accepted, as `luaL_checkinteger` does).
    pub fn integer(&self, n: usize) -> Result<i64, Raise> {
        match self.get(n).map(integer_of) {
            Some(Ok(i)) => Ok(i),
            Some(Err(NotInteger::NoRepresentation)) => {
                Err(self.bad(n, "number has no integer representation"))
            }
            _ => Err(self.expected(n, "number")),
        }
    }

    /// An optional integer.
    pub fn opt_integer(&self, n: usize) -> Result<Option<i64>, Raise> {
        match self.opt(n) {
            None => Ok(None),
            Some(_) => self.integer(n).map(Some),
        }
    }

    /// A number.
    pub fn number(&self, n: usize) -> Result<f64, Raise> {
        match self.get(n) {
            Some(Value::Integer(i)) => Ok(*i as f64),
            Some(Value::Number(f)) => Ok(*f),
            _ => Err(self.expected(n, "number")),
        }
    }

    /// A string's bytes (numbers are converted as Lua does).
    pub fn bytes(&self, lua: &Lua, n: usize) -> Result<Vec<u8>, Raise> {
        match self.get(n) {
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            Some(v @ (Value::Integer(_) | Value::Number(_))) => {
                match lua.coerce_string(v.clone())? {
                    Some(s) => Ok(s.as_bytes().to_vec()),
                    None => Err(self.expected(n, "string")),
                }
            }
            _ => Err(self.expected(n, "string")),
        }
    }

    /// A UTF-8 string.
    pub fn string(&self, lua: &Lua, n: usize) -> Result<String, Raise> {
        let b = self.bytes(lua, n)?;
        String::from_utf8(b).map_err(|_| self.bad(n, "invalid UTF-8"))
    }

    /// A function.
    pub fn function(&self, n: usize) -> Result<mlua::Function, Raise> {
        match self.get(n) {
            Some(Value::Function(f)) => Ok(f.clone()),
            _ => Err(self.expected(n, "function")),
        }
    }
}

/// Why a value is not an integer argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotInteger {
    /// A float without an exact integer value (`1.5`, `2^63`, NaN).
    NoRepresentation,
    /// Not a number, nor a string that reads as one.
    NotANumber,
}

/// The integer a value stands for, by `luaL_checkinteger`'s rules: integers,
/// floats with an exact integer value, and strings that read as either.
/// Every binding of ned and Lunatik checks integers with this.
pub fn integer_of(v: &Value) -> Result<i64, NotInteger> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Number(f) => float_to_int(*f).ok_or(NotInteger::NoRepresentation),
        Value::String(s) => {
            let t = s.to_string_lossy();
            let t = t.trim();
            match t.parse::<i64>() {
                Ok(i) => Ok(i),
                Err(_) => match t.parse::<f64>() {
                    Ok(f) => float_to_int(f).ok_or(NotInteger::NoRepresentation),
                    Err(_) => Err(NotInteger::NotANumber),
                },
            }
        }
        _ => Err(NotInteger::NotANumber),
    }
}

fn float_to_int(f: f64) -> Option<i64> {
    (f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f))
        .then_some(f as i64)
}

/// Lua's name of a value's type (`number` for integers and floats alike),
/// as `type()` reports it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "number",
        Value::LightUserData(_) => "userdata",
        other => other.type_name(),
    }
}
