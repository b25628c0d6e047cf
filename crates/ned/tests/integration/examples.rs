//! Runs every examples/*.lua as the README does (`ned --wait-and-exit`) and
//! checks the lines each example promises in its `-- expect: ` comments.

use std::path::PathBuf;

use crate::util::{Sandbox, path_str};

#[test]
fn every_example_runs_and_prints_what_it_promises() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "lua"))
        .collect();
    entries.sort();
    let sb = Sandbox::new();
    for script in entries {
        let src = std::fs::read_to_string(&script).expect("read example");
        // An example that runs until Ctrl-C names the test that runs it.
        if src.lines().any(|l| l.starts_with("-- run by: ")) {
            continue;
        }
        let expect: Vec<&str> = src
            .lines()
            .filter_map(|l| l.strip_prefix("-- expect: "))
            .collect();
        assert!(!expect.is_empty(), "{} promises nothing", script.display());
        let out = sb.ned(&["--wait-and-exit", path_str(&script)]);
        out.ok().no_lua_error();
        for line in expect {
            assert!(
                out.stdout.lines().any(|l| l == line),
                "{}: missing line {line:?}:\n{out}",
                script.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 2, "expected examples in {}", dir.display());
}
