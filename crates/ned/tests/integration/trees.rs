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

/// ned is a child subreaper by default: a daemon whose parent exited
/// before the shutdown is ned's, and ends with it (`--subreaper` asks for
/// the same).
#[test]
fn as_subreaper_sigterm_also_ends_a_daemon_whose_parent_exited() {
    for options in [&["--subreaper"][..], &[]] {
        let sb = Sandbox::new();
        let script = tree_script(&sb, true);
        let (out, err, code, _) = serve_and_signal_with(&sb, options, &script, 3, "-TERM");
        assert_eq!(code, Some(0), "{options:?}: {out}\n{err}");
        assert_terminated(&sb, &out, &err, true, true);
    }
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
    let term_ned = |unshare: &std::process::Child| {
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
                .expect("unshare's children");
        let ned = children.trim().parse::<i32>().expect("one child: ned");
        let st = std::process::Command::new("kill")
            .args(["-TERM", &ned.to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill failed");
    };
    let (out, err, code, _) = signal_served(cmd, 3, term_ned);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert_terminated(&sb, &out, &err, true, false);
}

/// `stubborn.sh PROG`: ignores SIGTERM, prints its pid, becomes `PROG 100`
/// (SIG_IGN survives exec).
const STUBBORN: &str = "#!/bin/sh\ntrap '' TERM\necho \"child $$\"\necho ready\nexec \"$1\" 100\n";

#[test]
fn a_setsid_grandchild_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let sb = Sandbox::new();
    std::fs::copy("/bin/sleep", sb.rom().join("napper")).expect("copy sleep");
    let stubborn = sb.exe("stubborn.sh", STUBBORN);
    let script = format!(
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({{ log = {{ 'keeper' }} }}, '/bin/sh', '-c', 'setsid \"$0\" \"$1\" & wait', '{}', '{}')\n\
         t:exit_handler(function(c) print('handler keeper', c, t:signal()) end)\n",
        path_str(&stubborn),
        path_str(&sb.rom().join("napper"))
    );
    let (out, err, code, _) = serve_and_signal_with(&sb, &[], &script, 1, "-TERM");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!err.contains("did not die"), "{err}");
    // The keeper itself died of the SIGTERM; its grandchild needed SIGKILL.
    assert!(out.contains("handler keeper\tnil\t15"), "{out}\n{err}");
    let pids = children(&out);
    assert_eq!(pids.len(), 1, "{out}");
    assert!(
        wait_for(Duration::from_secs(10), || !pid_alive(pids[0])),
        "the stubborn grandchild {} outlived ned",
        pids[0]
    );
}

/// Ctrl-C on ned's terminal: the line discipline sends SIGINT to the
/// foreground process group, which is ned's and no task's; ned then
/// stops its tasks in order, with SIGTERM. script(1) gives ned a
/// pseudo-terminal; writing ^C into it is pressing Ctrl-C.
#[test]
fn ctrl_c_reaches_ned_alone_and_ned_stops_its_tasks_with_sigterm() {
    let sb = Sandbox::new();
    let s = sb.file(
        "ctrl_c.lua",
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({ log = { 'task' } }, '/bin/sh', '-c',\n\
           'trap \"echo got INT\" INT; trap \"echo got TERM; exit 0\" TERM; echo ready; while :; do sleep 0.05; done')\n\
         t:exit_handler(function(c) print('handler task', c) end)\n",
    );
    // script(1) runs the line with `$SHELL -c`; `exec` makes ned the
    // pty's foreground process itself, whichever shell that is (dash,
    // unlike bash, would otherwise stay as ned's parent and die of the
    // SIGINT, and script would report its 130).
    let cmdline = format!(
        "exec {} {}",
        path_str(&crate::util::ned_bin()),
        path_str(&s)
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .current_dir(&sb.root)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux is needed");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut guard = crate::util::KillOnDrop(Some(child));
    let mut lines = Vec::new();
    let ready = wait_for(Duration::from_secs(30), || {
        lines.extend(rx.try_iter());
        lines.iter().any(|l: &String| l.contains("| ready"))
    });
    assert!(ready, "the task never became ready: {lines:?}");
    use std::io::Write;
    stdin.write_all(b"\x03").expect("write ^C");
    stdin.flush().expect("flush");
    let mut status = None;
    let stopped = wait_for(crate::util::HANG_GUARD, || {
        status = guard.0.as_mut().and_then(|c| c.try_wait().ok().flatten());
        status.is_some()
    });
    assert!(stopped, "ned did not stop after Ctrl-C: {lines:?}");
    let _ = guard.take().wait();
    drop(stdin);
    lines.extend(rx.iter());
    let all = lines.join("\n");
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{all}");
    assert!(all.contains("got TERM"), "{all}");
    assert!(!all.contains("got INT"), "{all}");
    assert!(all.contains("handler task\t0"), "{all}");
}

#[test]
fn exit_code_from_a_task_that_exits_or_is_killed() {
    for (job, status) in [("sleep 0.2; exit 7", 7), ("kill -TERM $$", 128 + 15)] {
        let sb = Sandbox::new();
        let s = sb.file(
            "job.lua",
            format!(
                "local L4 = require('L4')\n\
                 local ld = L4.default_loader\n\
                 local other = ld:startv({{ log = {{ 'other' }} }}, '/bin/sleep', '100')\n\
                 print('pid', 'other', other:pid())\n\
                 other:exit_handler(function(c) print('handler other', c, other:signal()) end)\n\
                 ld:startv({{ log = {{ 'job' }} }}, '/bin/sh', '-c', '{job}')\n"
            ),
        );
        // Serving: ned stops by itself when the job ends.
        let out = sb.ned(&["--exit-code-from", "job", path_str(&s)]);
        out.status(status);
        out.stdout_has("handler other\tnil\t15");
        crate::exits::assert_tasks_gone(&out.stdout);
        assert!(!out.stderr.contains("lua error"), "{out}");
    }
}

#[test]
fn exit_code_from_a_tag_no_task_has() {
    let sb = Sandbox::new();
    let s = sb.file(
        "none.lua",
        "require('L4').default_loader:startv({ log = { 'job' } }, '/bin/true')\n",
    );
    let out = sb.ned(&["--wait-and-exit", "--exit-code-from", "jbo", path_str(&s)]);
    out.status(1)
        .stderr_has("--exit-code-from jbo: no task with that log tag ended");
}

/// `L4.on_signal`: a taken SIGHUP runs the handler instead of shutting
/// ned down (here the handler then stops ned with its own status), a
/// taken SIGUSR1 is not reported as ignored; bad names are Lua errors.
#[test]
fn on_signal_takes_hup_and_usr1_from_ned() {
    for (sig, name) in [("-HUP", "HUP"), ("-USR1", "USR1")] {
        let sb = Sandbox::new();
        let script = format!(
            "local L4 = require('L4')\n\
             local t = L4.default_loader:startv({{ log = {{ 'task' }} }}, '/bin/sh', '-c', 'echo ready; exec sleep 100')\n\
             print('pid', 'task', t:pid())\n\
             L4.on_signal('{name}', function(n) print('took', n); os.exit(5) end)\n"
        );
        let (out, err, code, _) = serve_and_signal_with(&sb, &[], &script, 1, sig);
        assert_eq!(code, Some(5), "{out}\n{err}");
        assert!(out.contains(&format!("took\t{name}")), "{out}\n{err}");
        assert!(!err.contains("ignoring"), "{err}");
        crate::exits::assert_tasks_gone(&out);
    }
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         for _, a in ipairs({ { 'QUIT', print }, { 'HUP', 5 }, { 99, print }, { {}, print } }) do\n\
           print(select(2, pcall(L4.on_signal, a[1], a[2])))\n\
         end\n\
         print(L4.on_signal('sighup', print), L4.on_signal('HUP', nil))\n",
    );
    out.clean()
        .stdout_has("bad argument #1 to 'on_signal' (only HUP, USR1, USR2, TERM and INT can be taken from ned, got 'QUIT')")
        .stdout_has("bad argument #2 to 'on_signal' (function or nil expected, got number)")
        .stdout_has("got 99)")
        .stdout_has("bad argument #1 to 'on_signal' (signal name or number expected, got table)")
        .stdout_has("true\ttrue");
}

/// `task:kill_tree(sig)` reaches a `setsid` child the task still waits
/// for and leaves the task held; `task:kill()` ends a tree too; a bad
/// signal is a Lua error.
#[test]
fn kill_tree_and_kill_end_a_tasks_whole_tree() {
    let sb = Sandbox::new();
    std::fs::copy("/bin/sleep", sb.rom().join("napper")).expect("copy sleep");
    let napper = sb.rom().join("napper");
    let out = sb.wait_and_exit(&format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local function tree(tag)\n\
           return ld:startv({{ log = {{ tag }} }}, '/bin/sh', '-c', 'setsid \"$0\" 100 & echo \"child $!\"; : > \"$1\"; wait', '{}', tag .. '.up')\n\
         end\n\
         -- Each task has forked its child once its file exists.\n\
         local function up(p)\n\
           for _ = 1, 1000 do local f = io.open(p) if f then f:close() return end L4.msleep(10) end\n\
           error(p .. ' never appeared')\n\
         end\n\
         local a, b = tree('a'), tree('b')\n\
         up('a.up') up('b.up')\n\
         print('kill_tree', a:kill_tree(15))\n\
         print('a ended', a:wait(), a:signal())\n\
         print('kill', b:kill())\n\
         print(pcall(a.kill_tree, a, 'x'))\n",
        path_str(&napper)
    ));
    // kill_tree signals the descendants first (the task dying first would
    // hand them to init): the wrapper shell may then see its `wait` end
    // and exit 0 before its own SIGTERM lands. Either way it ended.
    assert!(
        out.stdout.contains("a ended\tnil\t15") || out.stdout.contains("a ended\t0\tnil"),
        "a did not end:\n{out}"
    );
    out.clean()
        .stdout_has("kill_tree\ttrue")
        .stdout_has("kill\tkilled")
        .stdout_has("bad argument #1 to 'kill_tree' (integer signal number expected, got string)");
    let pids = children(&out.stdout);
    assert_eq!(pids.len(), 2, "{out}");
    for pid in pids {
        assert!(
            wait_for(Duration::from_secs(10), || !pid_alive(pid)),
            "{pid}, a setsid child, outlived its task's kill\n{out}"
        );
    }
}

/// A taken SIGTERM (`L4.on_signal("TERM", ...)`) lets the script stop its
/// tasks in dependency order with `ned.supervise` and then exit: the
/// dependent stops before what it depends on, and ned exits with the
/// script's status, nothing left (issue 11: ordered shutdown on `kill`).
#[test]
fn a_taken_sigterm_stops_the_tasks_in_dependency_order() {
    let sb = Sandbox::new();
    let svc = |name: &str| {
        format!(
            "{{ argv = {{ '/bin/sh', '-c', 'trap \"echo {name} stopping; exit 0\" TERM; echo ready; while :; do sleep 0.05; done' }} }}"
        )
    };
    let script = format!(
        "local L4 = require('L4')\n\
         local sv = require('ned.supervise').new()\n\
         sv:add('db', {db})\n\
         local web = {web}\n\
         web.after = {{ 'db' }}\n\
         sv:add('web', web)\n\
         sv:start()\n\
         for _, n in ipairs({{ 'db', 'web' }}) do print('pid', n, sv:task(n):pid()) end\n\
         L4.on_signal('TERM', function(name)\n\
           print('took', name)\n\
           sv:stop()\n\
           print('stopped in order')\n\
           os.exit(7)\n\
         end)\n",
        db = svc("db"),
        web = svc("web"),
    );
    let (out, err, code, _) = serve_and_signal_with(&sb, &[], &script, 2, "-TERM");
    assert_eq!(code, Some(7), "{out}\n{err}");
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{out}\n{err}"))
    };
    assert!(at("took\tTERM") < at("web stopping"), "{out}");
    assert!(
        at("web stopping") < at("db stopping"),
        "web must stop first:\n{out}"
    );
    assert!(at("db stopping") < at("stopped in order"), "{out}");
    crate::exits::assert_tasks_gone(&out);
}
