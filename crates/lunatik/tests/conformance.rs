//! Runs every conformance script `tests/lunatik/*.lua` (workspace root), each
//! in a fresh main state with the lunatik modules registered and the Lua root
//! set to `tests/lunatik`. A script passes when it runs without error; the
//! failure message is the Lua error. Scripts run one after another in one
//! test so the process-wide live-object counters (`test.stats()`) are not
//! disturbed by other tests; after each script, no runtime state may be left
//! open.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use mlua::{Lua, Value};

fn root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/lunatik");
    p.canonicalize().unwrap_or(p)
}

/// A main state as ned would build it, plus the `test` helper table.
pub fn main_state(root: &Path) -> mlua::Result<Lua> {
    let lua = Lua::new();
    lunatik::register(&lua, lunatik::Config::new(root))?;
    let t = lua.create_table()?;
    t.set(
        "stats",
        lua.create_function(|lua, ()| {
            let s = lunatik::stats();
            let t = lua.create_table()?;
            t.set("runtimes", s.runtimes)?;
            t.set("states", s.states)?;
            t.set("rcu_tables", s.rcu_tables)?;
            t.set("data", s.data)?;
            t.set("fifos", s.fifos)?;
            t.set("completions", s.completions)?;
            t.set("threads", s.threads)?;
            t.set("sets", s.sets)?;
            t.set("sockets", s.sockets)?;
            Ok(t)
        })?,
    )?;
    t.set("root", root.display().to_string())?;
    lua.globals().set("test", t)?;
    Ok(lua)
}

fn run(path: &Path) -> Result<(), String> {
    let src = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lua = main_state(&root()).map_err(|e| lunatik::message(&e))?;
    let r = lua
        .load(src)
        .set_name(format!("@{name}"))
        .exec()
        .map_err(|e| lunatik::message(&e));
    let _: Result<Value, _> = lua.load("collectgarbage() collectgarbage()").eval();
    drop(lua);
    r
}

#[test]
fn conformance_scripts() {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(root())
        .expect("tests/lunatik exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 10, "conformance scripts missing");
    let mut failures = Vec::new();
    for s in &scripts {
        let before = lunatik::stats();
        let (tx, rx) = mpsc::channel();
        let path = s.clone();
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(move || {
                let _ = tx.send(run(&path));
            })
            .expect("spawn");
        let name = s
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => {
                let after = lunatik::stats();
                if after.states != before.states || after.runtimes != before.runtimes {
                    failures.push(format!(
                        "{name}: leaked runtimes: before {before:?}, after {after:?}"
                    ));
                } else {
                    eprintln!("ok   {name}");
                }
            }
            Ok(Err(e)) => failures.push(format!("{name}: {e}")),
            Err(_) => failures.push(format!("{name}: timed out")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} script(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
