//! The line editor: rustyline with a persistent history, continuation
//! lines for chunks cut short, tab completion of the names ned's main state
//! knows, and Ctrl-C that cancels a running command instead of ending the
//! prompt.

use std::cell::RefCell;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::rc::Rc;

use rustix::termios::{LocalModes, OptionalActions, Termios};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::chunk::{Checker, Form};
use crate::{Args, FAILED, send};
use ned_prompt::wire::{Conn, Interrupt};

/// Prompt of a continuation line.
const MORE: &str = ">> ";

/// The line that opens the live view (`return top` reads a global of
/// that name).
const TOP: &str = "top";

pub fn run(conn: Conn, args: &Args) -> u8 {
    let conn = Rc::new(RefCell::new(conn));
    // SIGINT is blocked and read from a signalfd: a Ctrl-C typed while the
    // terminal has its signal keys on (between the line editor giving the
    // line back and the command's wait taking them off) cancels the
    // command instead of being lost, and never kills the prompt.
    let sigint = ned_spawn::SignalFd::new(&[rustix::process::Signal::INT.as_raw()]).ok();
    let mut rl: Editor<Names, DefaultHistory> = match Editor::new() {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("ned-prompt: cannot start the line editor: {e}");
            return FAILED;
        }
    };
    rl.set_helper(Some(Names { conn: conn.clone() }));
    let history = args.history.clone().or_else(default_history);
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A first run has no file yet.
        let _ = rl.load_history(h);
    }
    let checker = Checker::new();
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            args.prompt.as_str()
        } else {
            MORE
        };
        // A Ctrl-C from before this line (none was running) means nothing.
        if let Some(s) = &sigint {
            while let Ok(Some(_)) = s.read() {}
        }
        let line = match rl.readline(prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break 0,
            Err(e) => {
                eprintln!("ned-prompt: {e}");
                break FAILED;
            }
        };
        let first = buffer.is_empty();
        if !first {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        if buffer.trim().is_empty() {
            buffer.clear();
            continue;
        }
        // `top` alone on a fresh line opens the live view (its errors are
        // shown by it; a gone ned shows at the next command).
        if first && buffer.trim() == TOP {
            let _ = rl.add_history_entry(TOP);
            if let Some(h) = &history {
                let _ = rl.append_history(h);
            }
            buffer.clear();
            crate::top::run(&mut conn.borrow_mut());
            continue;
        }
        let Form::Send(src) = checker.form(&buffer, first) else {
            continue;
        };
        let _ = rl.add_history_entry(buffer.as_str());
        if let Some(h) = &history {
            let _ = rl.append_history(h);
        }
        buffer.clear();
        let tty = Tty::new(sigint.as_ref());
        if let Err(s) = send(
            &mut conn.borrow_mut(),
            &src,
            tty.as_ref().map(|t| t as &dyn Interrupt),
        ) {
            break s;
        }
    }
}

/// `$XDG_STATE_HOME/ned/prompt_history`, else `~/.local/state/ned/prompt_history`.
fn default_history() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("XDG_STATE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local/state")))
        .map(|d| d.join("ned/prompt_history"))
}

/// The terminal while a command runs: its signal keys off, so Ctrl-C
/// arrives as a byte that cancels the command (restored on drop).
struct Tty<'a> {
    saved: Termios,
    sigint: Option<&'a ned_spawn::SignalFd>,
}

impl<'a> Tty<'a> {
    fn new(sigint: Option<&'a ned_spawn::SignalFd>) -> Option<Tty<'a>> {
        let stdin = rustix::stdio::stdin();
        let saved = rustix::termios::tcgetattr(stdin).ok()?;
        let mut t = saved.clone();
        t.local_modes -= LocalModes::ISIG | LocalModes::ICANON | LocalModes::ECHO;
        rustix::termios::tcsetattr(stdin, OptionalActions::Now, &t).ok()?;
        Some(Tty { saved, sigint })
    }
}

impl Interrupt for Tty<'_> {
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        Some(rustix::stdio::stdin())
    }

    fn signal(&self) -> Option<BorrowedFd<'_>> {
        self.sigint.map(|s| s.fd())
    }

    fn take_signal(&self) {
        if let Some(s) = self.sigint {
            while let Ok(Some(_)) = s.read() {}
        }
        eprintln!("^C");
    }

    fn cancelled(&self) -> bool {
        let mut b = [0u8; 64];
        let n = rustix::io::read(rustix::stdio::stdin(), &mut b).unwrap_or(0);
        let hit = b[..n].contains(&3);
        if hit {
            eprintln!("^C");
        }
        hit
    }
}

impl Drop for Tty<'_> {
    fn drop(&mut self) {
        let _ =
            rustix::termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// Completion: the names ned's main state has under the dotted path
/// before the cursor (`L4.default_loader:st` completes methods through the
/// value's metatable `__index` table), asked of ned as a chunk.
struct Names {
    conn: Rc<RefCell<Conn>>,
}

/// The completion chunk; `...` is not available to a request, so the path
/// and prefix are spliced in as quoted strings.
const COMPLETE_LUA: &str = r#"
local path, prefix = %PATH%, %PREFIX%
local t = _G
for part in path:gmatch("[^.:]+") do
  local ok, v = pcall(function() return t[part] end)
  if not ok then return "" end
  t = v
end
local seen, out = {}, {}
local function add(tab)
  if type(tab) ~= "table" then return end
  for k in pairs(tab) do
    if type(k) == "string" and k:sub(1, #prefix) == prefix and not seen[k] then
      seen[k] = true; out[#out + 1] = k
    end
  end
end
add(t)
local mt = getmetatable(t)
if type(mt) == "table" then add(rawget(mt, "__index")) end
table.sort(out)
return table.concat(out, "\n")
"#;

/// The tags of ned's tasks that start with `%PREFIX%`, one per line: Tab
/// inside a string (`kill("we`, `logs('db`) completes task names.
const COMPLETE_TAGS: &str = r#"
local prefix, seen, out = %PREFIX%, {}, {}
local ok, tasks = pcall(function() return require("ned.prompt").tasks() end)
if not ok then return "" end
for _, t in ipairs(tasks) do
  local tag = t.tag
  if type(tag) == "string" and tag:sub(1, #prefix) == prefix and not seen[tag] then
    seen[tag] = true; out[#out + 1] = tag
  end
end
table.sort(out)
return table.concat(out, "\n")
"#;

/// Where an unclosed string literal starts in `head` (after its quote).
fn open_string(head: &str) -> Option<usize> {
    let mut open: Option<(char, usize)> = None;
    let mut escaped = false;
    for (i, c) in head.char_indices() {
        match open {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some((q, _)) if c == q => open = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => open = Some((c, i + 1)),
            None => {}
        }
    }
    open.map(|(_, at)| at)
}

impl Names {
    fn ask(&self, path: &str, prefix: &str) -> Vec<String> {
        let chunk = COMPLETE_LUA
            .replace("%PATH%", &format!("{path:?}"))
            .replace("%PREFIX%", &format!("{prefix:?}"));
        self.lines(&chunk)
    }

    fn tags(&self, prefix: &str) -> Vec<String> {
        self.lines(&COMPLETE_TAGS.replace("%PREFIX%", &format!("{prefix:?}")))
    }

    /// The lines a completion chunk answers (none when ned is busy or gone).
    fn lines(&self, chunk: &str) -> Vec<String> {
        let Ok(mut conn) = self.conn.try_borrow_mut() else {
            return Vec::new();
        };
        match conn.call(chunk.as_bytes(), None) {
            Ok(r) if r.status == 0 && !r.text.is_empty() => {
                r.text.lines().map(str::to_owned).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl Completer for Names {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let head = &line[..pos];
        if let Some(at) = open_string(head) {
            return Ok((at, self.tags(&head[at..])));
        }
        let start = head
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == ':'))
            .map_or(0, |i| i + 1);
        let word = &head[start..];
        let (path, prefix, at) = match word.rfind(['.', ':']) {
            Some(i) => (&word[..i], &word[i + 1..], start + i + 1),
            None => ("", word, start),
        };
        Ok((at, self.ask(path, prefix)))
    }
}

impl Hinter for Names {
    type Hint = String;
}
impl Highlighter for Names {}
impl Validator for Names {}
impl Helper for Names {}

#[cfg(test)]
mod tests {
    use super::open_string;

    #[test]
    fn an_open_string_is_found_after_its_quote() {
        assert_eq!(open_string("kill('we"), Some(6));
        assert_eq!(open_string("kill(\"a\", 'we"), Some(11));
        assert_eq!(open_string("kill('web')"), None);
        assert_eq!(open_string("x = 'it\\'s "), Some(5));
        assert_eq!(open_string("base"), None);
    }
}
