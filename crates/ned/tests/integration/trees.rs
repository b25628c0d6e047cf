//! Whole process trees (issue 11, point 6): ned's shutdown ends every
//! task's tree — a shell wrapper's child, a daemon that called `setsid`,
//! one whose parent already exited, one that ignores SIGTERM — as PID 1,
//! as a subreaper and as neither; tasks run in their own process group, so
//! a terminal's Ctrl-C reaches ned alone; `--exit-code-from` makes a task's
//! status ned's.

use std::process::Stdio;
use std::time::Duration;

use crate::exits::{serve_and_signal_with, signal_served};
use crate::util::{Sandbox, path_str, pid_alive, wait_for};

/// `daemon.sh MARK PROG`: records a SIGTERM in MARK, prints its pid and
/// that of a child running `PROG 100` (both in its own session when
/// started by setsid), then waits.
const DAEMON: &str = r#"#!/bin/sh
trap 'echo term > "$1"; exit 0' TERM
"$2" 100 &
echo "child $$"
echo "child $!"
echo ready
wait
"#;

/// The pids the tasks printed as `tag | child N`.
fn children(out: &str) -> Vec<i64> {
    out.lines()
        .filter_map(|l| l.split_once("| child ")?.1.trim().parse().ok())
        .collect()
}

/// A boot script with a shell wrapper whose `sleep` is in its group, a
/// task with a `setsid` daemon it keeps waiting for, and (when `orphan`)
/// a task that starts a `setsid` daemon and exits at once.
fn tree_script(sb: &Sandbox, orphan: bool) -> String {
    std::fs::copy("/bin/sleep", sb.rom().join("napper")).expect("copy sleep");
    let daemon = sb.exe("daemon.sh", DAEMON);
    let napper = sb.rom().join("napper");
    let (d, n, root) = (path_str(&daemon), path_str(&napper), path_str(&sb.root));
    let mut s = format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({{ log = {{ 'wrap' }} }}, '/bin/sh', '-c', '\"$0\" 100 & echo \"child $!\"; echo ready; wait', '{n}')\n\
         ld:startv({{ log = {{ 'keeper' }} }}, '/bin/sh', '-c', 'setsid \"$0\" \"$1\" \"$2\" & wait', '{d}', '{root}/keeper.term', '{n}')\n"
    );
    if orphan {
        s.push_str(&format!(
            "ld:startv({{ log = {{ 'quitter' }} }}, '/bin/sh', '-c', 'setsid \"$0\" \"$1\" \"$2\" & exit 0', '{d}', '{root}/quitter.term', '{n}')\n"
        ));
    }
    s
}

fn assert_terminated(sb: &Sandbox, out: &str, err: &str, orphan: bool, own_pids: bool) {
    assert!(!err.contains("panicked"), "{err}");
    let mut marks = vec!["keeper.term"];
    if orphan {
        marks.push("quitter.term");
    }
    for m in marks {
        // Written by the daemon's SIGTERM trap: ned signalled it before
        // exiting (a PID namespace's end would only SIGKILL it).
        assert!(
            sb.root.join(m).exists(),
            "{m}: the daemon got no SIGTERM\n{out}\n{err}"
        );
    }
    let pids = children(out);
    // wrap: 1; keeper: 2; quitter: 2.
    assert_eq!(pids.len(), if orphan { 5 } else { 3 }, "{out}");
    if own_pids {
        for pid in pids {
            assert!(
                wait_for(Duration::from_secs(10), || !pid_alive(pid)),
                "{pid} outlived ned\n{out}"
            );
        }
    }
}

#[test]
fn sigterm_ends_a_wrapper_child_and_a_setsid_daemon() {
    let sb = Sandbox::new();
    let script = tree_script(&sb, false);
    let (out, err, code, _) = serve_and_signal_with(&sb, &[], &script, 2, "-TERM");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_terminated(&sb, &out, &err, false, true);
}

#[test]
fn as_subreaper_sigterm_also_ends_a_daemon_whose_parent_exited() {
    let sb = Sandbox::new();
    let script = tree_script(&sb, true);
    let (out, err, code, _) = serve_and_signal_with(&sb, &["--subreaper"], &script, 3, "-TERM");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_terminated(&sb, &out, &err, true, true);
}

#[test]
fn as_pid1_sigterm_ends_every_tree_before_ned_exits() {
    let probe = std::process::Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount-proc",
            "true",
        ])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("no unprivileged PID namespace here, not run");
        return;
    }
    let sb = Sandbox::new();
    let script = sb.file("tree.lua", tree_script(&sb, true));
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--pid",
        "--fork",
        "--mount-proc",
    ])
    .arg(crate::util::ned_bin())
    .arg(path_str(&script))
    .current_dir(&sb.root)
    .env("NO_COLOR", "1")
    .stdin(Stdio::null());
    // ned is unshare's one child (--fork): SIGTERM from outside the
    // namespace, as a container runtime sends it to its PID 1.
    let ned = |unshare: &std::process::Child| {
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                .expect("unshare's children");
        children.trim().parse::<u32>().expect("one child: ned")
    };
    let (out, err, code, _) = signal_served(cmd, 3, "-TERM", ned);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_terminated(&sb, &out, &err, true, false);
}
