//! Lunatik hooks on ned's hot path (Lunatik spec §9): `L4.log_hook(rt)`
//! makes a non-sleepable runtime see every line a task logs. Its body is
//! resumed with `tag, stream, line` (`stream` is `"stdout"` or
//! `"stderr"`) and answers with what it yields (or returns): the line to
//! keep or a replacement (a string), or `nil` to drop it. It runs inline on
//! ned's loop under the runtime's instruction budget; an error, a blown
//! budget, a dead or stopped runtime removes the hook with a logged line
//! (ned_core::loghook) and ned goes on. `L4.unhook(id)` removes it.
//! `L4.log_hook(rt, { batch = true })` resumes the body once per read of a
//! task's pipe with all the complete lines read (`"a\nb\n"`) instead of
//! once per line: what it answers replaces them all (`nil` drops them).

use std::sync::Arc;

use lunatik::{Handle, Runtime, Shared};
use mlua::{Lua, MultiValue, Value};
use ned_core::log::Which;
use ned_core::loghook::{LineHook, Verdict};

use crate::HostCell;
use crate::fail::{Args, Res, bad_arg, type_err};

struct RuntimeHook {
    rt: Arc<Runtime>,
    batch: bool,
}

impl LineHook for RuntimeHook {
    fn line(&mut self, tag: &str, stream: Which, line: &[u8]) -> Result<Verdict, String> {
        let stream = match stream {
            Which::Out => "stdout",
            Which::Err => "stderr",
        };
        let args = [
            Shared::Str(Arc::from(tag.as_bytes())),
            Shared::Str(Arc::from(stream.as_bytes())),
            Shared::Str(Arc::from(line)),
        ];
        let out = self
            .rt
            .resume(false, &args)
            .map_err(|e| e.message().to_owned())?;
        match out.first() {
            None | Some(Shared::Nil) => Ok(Verdict::Drop),
            Some(Shared::Str(s)) if &s[..] == line => Ok(Verdict::Keep),
            Some(Shared::Str(s)) => Ok(Verdict::Replace(s.to_vec())),
            Some(_) => Err("it answered neither a string nor nil".into()),
        }
    }

    fn name(&self) -> String {
        format!("'{}'", self.rt.script())
    }

    fn batch(&self) -> bool {
        self.batch
    }
}

/// `L4.log_hook(rt)`: the hook's id.
pub fn log_hook(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<i64> {
    let args = Args::new("log_hook", vals, 0);
    let rt = match args.get(1) {
        Value::UserData(ud) => ud.borrow::<Handle<Runtime>>().ok().map(|h| h.0.clone()),
        _ => None,
    }
    .ok_or_else(|| type_err(1, "log_hook", "runtime", args.get(1)))?;
    if rt.is_sleepable() {
        return Err(bad_arg(
            1,
            "log_hook",
            "a log hook runs on ned's loop: it needs a non-sleepable runtime (\"softirq\")",
        ));
    }
    let batch = match args.get(2) {
        Value::Nil => false,
        Value::Table(t) => {
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair?;
                if !matches!(&k, Value::String(s) if s.as_bytes().as_ref() == b"batch") {
                    return Err(bad_arg(2, "log_hook", "the only option is 'batch'"));
                }
            }
            match t.raw_get::<Value>("batch")? {
                Value::Nil => false,
                Value::Boolean(b) => b,
                _ => return Err(bad_arg(2, "log_hook", "'batch' must be a boolean")),
            }
        }
        other => return Err(type_err(2, "log_hook", "table or nil", other)),
    };
    let id = host.with(|h| h.sup.log_hooks().add(Box::new(RuntimeHook { rt, batch })))?;
    Ok(id as i64)
}

/// `L4.unhook(id)`: whether the hook was still there.
pub fn unhook(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<bool> {
    let args = Args::new("unhook", vals, 0);
    let id = args.integer(1)?;
    let id = u64::try_from(id).unwrap_or(0);
    host.with(|h| h.sup.log_hooks().remove(id))
}
