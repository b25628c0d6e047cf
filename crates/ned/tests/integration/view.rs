//! The prompt's helpers and the live view (issue 10, points 5-7): the
//! helpers called from a boot script (tests/lua/prompt_helpers.lua), then
//! through `ned-prompt -e`, and `ned-prompt` driven as a person would in a
//! pseudo-terminal (tmux): commands, history, continuation lines, the live
//! view and a kill from it. Every test asserts ned's exit status and that
//! no process it started is left.

use std::path::PathBuf;

use crate::util::{Out, Sandbox, path_str, pid_alive};

/// The pids a run printed as `task pid\t<pid>`.
fn task_pids(out: &Out) -> Vec<i64> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("task pid\t")?.trim().parse().ok())
        .collect()
}

fn assert_gone(pids: &[i64]) {
    for &pid in pids {
        assert!(!pid_alive(pid), "task {pid} outlived ned");
    }
}

#[test]
fn helpers_work_from_a_boot_script() {
    let sb = Sandbox::new();
    let lua = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/lua");
    let script = lua.join("prompt_helpers.lua");
    let out = sb.ned(&[
        "--wait-and-exit",
        "--rom",
        path_str(&sb.rom()),
        path_str(&script),
    ]);
    out.ok().no_lua_error().stdout_has("all checks passed");
    let pids = task_pids(&out);
    assert_eq!(pids.len(), 3, "web, once, extra: {out}");
    assert_gone(&pids);
}
