//! What the prompt decides before it sends anything: whether the lines
//! typed so far are a whole chunk, and whether a line is a bare expression.
//! The prompt compiles locally, with the same Lua (5.4, through mlua) ned
//! runs, as Lua's own `lua.c` does: no half-typed chunk ever reaches ned,
//! and ned stays the judge of what it runs (its -22 is printed as any error).

use mlua::Lua;

pub struct Checker {
    lua: Lua,
}

/// What the buffer is.
#[derive(Debug, PartialEq, Eq)]
pub enum Form {
    /// A complete chunk (or one with a syntax error ned will report): send.
    Send(String),
    /// A chunk cut short (Lua's `<eof>` errors): read another line.
    Incomplete,
}

impl Checker {
    pub fn new() -> Checker {
        Checker { lua: Lua::new() }
    }

    fn compiles(&self, src: &str) -> Result<(), bool> {
        match self.lua.load(src).set_name("argument").into_function() {
            Ok(_) => Ok(()),
            Err(mlua::Error::SyntaxError {
                incomplete_input, ..
            }) => Err(incomplete_input),
            Err(_) => Err(false),
        }
    }

    /// `first` is true for a buffer of one freshly typed line: then
    /// `return <line>` is tried first, so a bare expression shows its value.
    pub fn form(&self, buffer: &str, first: bool) -> Form {
        if first {
            let expr = format!("return {buffer}");
            if self.compiles(&expr).is_ok() {
                return Form::Send(expr);
            }
        }
        match self.compiles(buffer) {
            Err(true) => Form::Incomplete,
            _ => Form::Send(buffer.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_statements_and_incomplete_chunks() {
        let c = Checker::new();
        assert_eq!(c.form("1 + 1", true), Form::Send("return 1 + 1".into()));
        assert_eq!(c.form("x = 1", true), Form::Send("x = 1".into()));
        assert_eq!(c.form("for i = 1, 2 do", true), Form::Incomplete);
        assert_eq!(
            c.form("for i = 1, 2 do\nend", false),
            Form::Send("for i = 1, 2 do\nend".into())
        );
        // As in lua.c: a string cut by the end of input wants more lines.
        assert_eq!(c.form("x = \"unfinished", true), Form::Incomplete);
        assert_eq!(c.form("x = = 1", true), Form::Send("x = = 1".into()));
        assert_eq!(c.form("f(", true), Form::Incomplete);
    }
}
