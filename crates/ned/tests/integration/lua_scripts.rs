//! Runs the conformance scripts in tests/lua (repository root). Each one
//! asserts in Lua and ends with `check.done()`; a failing check is a Lua
//! error, which ned prints as `lua error: ...` and turns into exit status 1.

use std::path::PathBuf;

use crate::util::{Out, Sandbox, path_str};

fn lua_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/lua")
}

/// `ned --wait-and-exit --rom <sandbox rom> tests/lua/<name>.lua`, which
/// must pass all its checks without any `lua error`.
fn conformance(name: &str) {
    run_lua(name)
        .ok()
        .no_lua_error()
        .stdout_has("all checks passed");
}

fn run_lua(name: &str) -> Out {
    let sb = Sandbox::new();
    let script = lua_dir().join(format!("{name}.lua"));
    assert!(script.exists(), "missing {}", script.display());
    let rom = sb.rom();
    sb.ned(&[
        "--wait-and-exit",
        "--rom",
        path_str(&rom),
        path_str(&script),
    ])
}

#[test]
fn constants_and_environment() {
    conformance("constants");
}

#[test]
fn capabilities_env_and_factories() {
    conformance("caps");
}

#[test]
fn every_function_rejects_bad_input() {
    conformance("bad_input");
}

/// The §12 table; the handlers left registered at the end fire from the
/// loop after the script, a failing one is printed and the rest still run.
#[test]
fn task_table() {
    let out = run_lua("tasks");
    out.ok().stdout_has("all checks passed");
    out.stderr_has("lua error: ")
        .stderr_has("boom in handler")
        .stdout_has("late z5 6")
        .stdout_has("late dropped 9")
        .stdout_has("late after 2");
    let done = out.stdout.find("all checks passed").unwrap_or(0);
    assert!(
        out.stdout.find("late z5 6").unwrap_or(0) > done,
        "a handler ran while the script was in wait():\n{out}"
    );
    assert_eq!(
        out.stderr.matches("lua error").count(),
        1,
        "exactly the failing handler:\n{out}"
    );
}

/// `L4.socket`: good calls, and a table of malformed ones that each name
/// the bad field and leave no fd behind.
#[test]
fn sockets_and_their_bad_input() {
    conformance("sockets");
}

/// Malformed start tables; the task started before them still exits
/// through its handler.
#[test]
fn bad_start_tables() {
    run_lua("bad_start")
        .ok()
        .no_lua_error()
        .stdout_has("all checks passed")
        .stdout_has("survivor exited 0");
}

/// Errors of L4 functions are raised at the script's own line, never at
/// one of L4.lua's.
#[test]
fn errors_name_the_scripts_line() {
    let out = run_lua("error_sites");
    out.ok()
        .no_lua_error()
        .stdout_has("error sites: 36")
        .stdout_has("all checks passed");
}

/// ned.supervise's policy logic and its errors for nonsense values.
#[test]
fn supervise_policy_logic() {
    conformance("supervise");
}

/// Every script in tests/lua (but the helper) has a test above.
#[test]
fn every_script_is_run() {
    let known = [
        "check",
        "constants",
        "caps",
        "bad_input",
        "tasks",
        "bad_start",
        "lunatik_caps",
        "sockets",
        "upstream_corners",
        "error_table",
        "error_sites",
        "supervise",
        // Run by view.rs, which also checks that its tasks are gone.
        "prompt_helpers",
        // Runtime scripts that lunatik_caps.lua loads.
        "runtimes",
    ];
    for e in std::fs::read_dir(lua_dir()).expect("tests/lua") {
        let p = e.expect("dir entry").path();
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        assert!(
            known.contains(&stem),
            "tests/lua/{stem}.lua has no test in lua_scripts.rs"
        );
    }
}

#[test]
fn caps_cross_into_lunatik_runtimes() {
    conformance("lunatik_caps");
}

/// Upstream configs' corners (issue 8): default log colours, a trailing
/// nil ending create's arguments, and sleeping (spec §15): exactly the two
/// unit messages, nothing for the silent calls, the task's line printed
/// while the script slept and its handler only after the script.
#[test]
fn upstream_corners() {
    let out = run_lua("upstream_corners");
    out.ok().no_lua_error().stdout_has("all checks passed");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let sleeping: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("Ned: Sleeping"))
        .collect();
    assert_eq!(sleeping.first(), Some(&"Ned: Sleeping 0.05s"), "{out}");
    assert!(
        sleeping[1..].iter().all(|l| *l == "Ned: Sleeping 100ms"),
        "{out}"
    );
    let at = |s: &str| {
        lines
            .iter()
            .position(|l| l.ends_with(s))
            .unwrap_or_else(|| panic!("no line {s:?}:\n{out}"))
    };
    assert!(at("sleeper | awake while ned sleeps") < at("script done sleeping"));
    assert!(at("all checks passed") < at("handler ran after the script"));
}

/// An uncaught error table prints `lua error: <msg> (code <code>)`, from
/// the script and from an exit handler alike.
#[test]
fn uncaught_error_tables_print_their_message() {
    let out = run_lua("error_table");
    out.status(1)
        .stderr_has("lua error: create: protocol -16 is not supported on Linux (code -38)\n")
        .stderr_has("lua error: handler gave up (code -5)\n");
    assert!(!out.stderr.contains("table: 0x"), "{out}");
    assert!(!out.stdout.contains("not reached"), "{out}");
}
