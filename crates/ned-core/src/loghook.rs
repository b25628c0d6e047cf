//! Log hooks (Lunatik spec §9): code that sees every line a task logs —
//! its tag, its stream, its bytes — before ned prints or stores it, and
//! keeps, rewrites or drops it. They run inline on ned's loop, in the
//! order they were added; the Lua side (lua-l4) backs them with
//! non-sleepable Lunatik runtimes, whose instruction budget bounds each
//! call. A hook that fails (an error, a blown budget, a runtime stopped
//! under it) is removed with a logged line, and the line goes on as if it
//! had never been there.

use crate::log::Which;

/// What a hook decides for one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print the line as it is.
    Keep,
    /// Print this instead.
    Replace(Vec<u8>),
    /// Print nothing.
    Drop,
}

/// One hook.
pub trait LineHook: Send {
    /// What to do with `line` of the task tagged `tag`; an error removes
    /// the hook.
    fn line(&mut self, tag: &str, stream: Which, line: &[u8]) -> Result<Verdict, String>;
    /// How the removal message names it.
    fn name(&self) -> String;
    /// A batch hook gets the complete lines of one read of a pipe at once
    /// (each ending in `\n`) instead of one line at a time, and answers
    /// for all of them: one call per read instead of one per line.
    fn batch(&self) -> bool {
        false
    }
}

/// The hooks of one multiplexer.
#[derive(Default)]
pub struct Hooks {
    hooks: Vec<(u64, Box<dyn LineHook>)>,
    next: u64,
}

/// A line after every hook saw it.
pub(crate) enum Filtered {
    Keep,
    Replaced(Vec<u8>),
    Drop,
}

impl Hooks {
    /// Adds `hook` after the others; its id removes it.
    pub fn add(&mut self, hook: Box<dyn LineHook>) -> u64 {
        self.next += 1;
        self.hooks.push((self.next, hook));
        self.next
    }

    /// Removes hook `id`; false when it is not there (any more).
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.hooks.len();
        self.hooks.retain(|(i, _)| *i != id);
        self.hooks.len() != before
    }

    /// Whether no per-line hook is there (batch hooks run elsewhere).
    pub fn is_empty(&self) -> bool {
        self.hooks.iter().all(|(_, h)| h.batch())
    }

    /// Whether a batch hook is there ([`LineHook::batch`]).
    pub(crate) fn has_batch(&self) -> bool {
        self.hooks.iter().any(|(_, h)| h.batch())
    }

    /// Runs every per-line hook on `line` in order, each on what the one
    /// before left; a failing hook is removed and reported.
    pub(crate) fn filter(&mut self, tag: &str, stream: Which, line: &[u8]) -> Filtered {
        self.run(false, tag, stream, line)
    }

    /// Runs every batch hook on `lines` (complete lines, each ending in
    /// `\n`) in order, as [`Hooks::filter`] does one line.
    pub(crate) fn filter_batch(&mut self, tag: &str, stream: Which, lines: &[u8]) -> Filtered {
        self.run(true, tag, stream, lines)
    }

    fn run(&mut self, batch: bool, tag: &str, stream: Which, line: &[u8]) -> Filtered {
        let mut current: Option<Vec<u8>> = None;
        let mut failed = Vec::new();
        for (id, hook) in self.hooks.iter_mut().filter(|(_, h)| h.batch() == batch) {
            let seen = current.as_deref().unwrap_or(line);
            match hook.line(tag, stream, seen) {
                Ok(Verdict::Keep) => {}
                Ok(Verdict::Replace(v)) => current = Some(v),
                Ok(Verdict::Drop) => return Filtered::Drop,
                Err(e) => {
                    crate::diag!("ned: log hook {} removed: {e}", hook.name());
                    failed.push(*id);
                }
            }
        }
        for id in failed {
            self.remove(id);
        }
        match current {
            Some(v) => Filtered::Replaced(v),
            None => Filtered::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Upper;
    impl LineHook for Upper {
        fn line(&mut self, _: &str, _: Which, line: &[u8]) -> Result<Verdict, String> {
            Ok(Verdict::Replace(line.to_ascii_uppercase()))
        }
        fn name(&self) -> String {
            "upper".into()
        }
    }

    struct DropTag(&'static str);
    impl LineHook for DropTag {
        fn line(&mut self, tag: &str, _: Which, _: &[u8]) -> Result<Verdict, String> {
            Ok(if tag == self.0 {
                Verdict::Drop
            } else {
                Verdict::Keep
            })
        }
        fn name(&self) -> String {
            "drop".into()
        }
    }

    struct Fails;
    impl LineHook for Fails {
        fn line(&mut self, _: &str, _: Which, _: &[u8]) -> Result<Verdict, String> {
            Err("boom".into())
        }
        fn name(&self) -> String {
            "fails".into()
        }
    }

    #[test]
    fn hooks_chain_drop_and_a_failing_one_goes() {
        let mut h = Hooks::default();
        assert!(h.is_empty());
        let fails = h.add(Box::new(Fails));
        h.add(Box::new(Upper));
        let drop = h.add(Box::new(DropTag("secret")));
        match h.filter("web", Which::Out, b"hello") {
            Filtered::Replaced(v) => assert_eq!(v, b"HELLO"),
            _ => panic!("expected a replacement"),
        }
        assert!(!h.remove(fails), "the failing hook was removed");
        assert!(matches!(
            h.filter("secret", Which::Err, b"x"),
            Filtered::Drop
        ));
        assert!(h.remove(drop));
        assert!(!h.remove(drop));
    }
}
