//! The one place where errors become Lua messages. Every module has its own
//! `thiserror` enum; at the Lua boundary [`message`] flattens the whole
//! chain (`top: cause: cause`), and looks through mlua's wrappers, whose
//! `Display` shows only the top error plus a traceback.

use std::error::Error as StdError;

/// Flattens `err` and its sources into one line-oriented message.
pub fn message(err: &(dyn StdError + 'static)) -> String {
    let mut out = String::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let (text, next) = match e.downcast_ref::<mlua::Error>() {
            Some(le) => mlua_step(le),
            None => (Some(e.to_string()), e.source()),
        };
        if let Some(text) = text
            && !text.is_empty()
            && !out.ends_with(&text)
        {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cur = next;
    }
    out
}

/// One link of an mlua error: its own text (without mlua's decorations) and
/// the next link.
fn mlua_step(e: &mlua::Error) -> (Option<String>, Option<&(dyn StdError + 'static)>) {
    use mlua::Error as E;
    match e {
        E::CallbackError { cause, .. } => (None, Some(cause.as_ref())),
        E::WithContext { context, cause } => (Some(context.clone()), Some(cause.as_ref())),
        E::RuntimeError(m) | E::MemoryError(m) => (Some(strip_traceback(m).to_owned()), None),
        E::SyntaxError { message, .. } => (Some(message.clone()), None),
        E::ExternalError(inner) => (None, Some(inner.as_ref())),
        other => (Some(other.to_string()), None),
    }
}

/// mlua appends a traceback to errors of resumed coroutines; the message
/// that crosses into the caller is only the error itself.
fn strip_traceback(m: &str) -> &str {
    m.split_once("\nstack traceback:")
        .map_or(m, |(head, _)| head)
}

/// A Lua-facing failure of an API function: the message and whether the
/// caller's position (`file:line: `) is prepended, as Lua's own
/// `luaL_error` does. Errors that come out of another runtime keep their own
/// position and are raised as they are.
#[derive(Debug, Clone)]
pub struct Raise {
    pub(crate) msg: String,
    pub(crate) located: bool,
    /// Raised as this integer instead of the message (upstream's sockets
    /// raise the errno, so scripts compare it with `linux.errno.AGAIN`).
    pub(crate) errno: Option<i32>,
}

impl Raise {
    /// An error at the caller's position.
    pub fn new(msg: impl Into<String>) -> Self {
        Raise {
            msg: msg.into(),
            located: true,
            errno: None,
        }
    }

    /// An error raised with its message untouched (no position added).
    pub fn bare(msg: impl Into<String>) -> Self {
        Raise {
            msg: msg.into(),
            located: false,
            errno: None,
        }
    }

    /// An error raised as the integer `errno`, as upstream's sockets do.
    pub fn errno(errno: i32) -> Self {
        Raise {
            msg: std::io::Error::from_raw_os_error(errno).to_string(),
            located: false,
            errno: Some(errno),
        }
    }

    /// `bad argument #n to 'func' (why)`.
    pub fn arg(n: usize, func: &str, why: impl std::fmt::Display) -> Self {
        Raise::new(format!("bad argument #{n} to '{func}' ({why})"))
    }

    /// `'<op>' is not allowed in a non-sleepable runtime`.
    pub fn not_sleepable(op: &str) -> Self {
        Raise::new(format!("'{op}' is not allowed in a non-sleepable runtime"))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl From<mlua::Error> for Raise {
    fn from(e: mlua::Error) -> Self {
        Raise::bare(message(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open x.lua")]
    struct Open(#[source] std::io::Error);

    #[test]
    fn flattens_chains() {
        let e = Open(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(message(&e), "cannot open x.lua: entity not found");
        let cb = mlua::Error::CallbackError {
            traceback: "stack traceback: ...".into(),
            cause: std::sync::Arc::new(mlua::Error::RuntimeError("a.lua:1: boom".into())),
        };
        assert_eq!(message(&cb), "a.lua:1: boom");
    }
}
