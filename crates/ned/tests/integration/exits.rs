//! Exit options (spec §2) and shutdown signals (§12, issue 3 point 5):
//! `--wait-and-exit` ends when the tasks are gone, `--exit` leaves no
//! orphan, SIGTERM/SIGINT terminate the children (SIGKILL after the grace
//! period for one that ignores SIGTERM), run their exit handlers and exit.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{Sandbox, path_str, pid_alive, wait_for};

/// Pids printed by a script as `pid <name> <n>`.
pub(crate) fn pids(stdout: &str) -> Vec<i64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("pid\t"))
        .filter_map(|l| l.split('\t').nth(1)?.parse().ok())
        .collect()
}

#[test]
fn wait_and_exit_ends_once_the_tasks_are_gone() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local t = L4.default_loader:start({ log = { 'p' } }, 'rom/probe --sleep 0.5 --exit 3')\n\
         t:exit_handler(function(c) print('handler', c) end)\n\
         print('script done')\n",
    );
    out.ok()
        .stdout_has("script done\n")
        .stdout_has("handler\t3");
    assert!(
        out.stdout.find("handler").unwrap_or(0) > out.stdout.find("script done").unwrap_or(0),
        "{out}"
    );
}

#[test]
fn exit_terminates_children_and_leaves_no_orphan() {
    let sb = Sandbox::new();
    let out = sb.run_script(
        "--exit",
        "s.lua",
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         for i = 1, 3 do\n\
           local t = ld:start({ log = { 'sleep' .. i } }, '/bin/sleep 100')\n\
           t:exit_handler(function(c) print('handler', i, c) end)\n\
           print('pid', i, t:pid())\n\
         end\n",
    );
    out.ok();
    let pids = pids(&out.stdout);
    assert_eq!(pids.len(), 3, "{out}");
    for pid in pids {
        assert!(
            wait_for(Duration::from_secs(10), || !pid_alive(pid)),
            "task {pid} outlived ned --exit"
        );
    }
    // Terminated by SIGTERM: the handlers ran with nil.
    for i in 1..=3 {
        out.stdout_has(&format!("handler\t{i}\tnil"));
    }
}

/// Runs a serving ned, waits for `ready` lines, sends `sig`, and returns
/// (stdout, stderr, status, seconds from the signal to the exit).
pub(crate) fn serve_and_signal(
    sb: &Sandbox,
    script: &str,
    ready: usize,
    sig: &str,
) -> (String, String, Option<i32>, f64) {
    serve_and_signal_with(sb, &[], script, ready, sig)
}

/// [`serve_and_signal`] with ned options before the script.
pub(crate) fn serve_and_signal_with(
    sb: &Sandbox,
    options: &[&str],
    script: &str,
    ready: usize,
    sig: &str,
) -> (String, String, Option<i32>, f64) {
    let s = sb.file("serve.lua", script);
    let mut args = options.to_vec();
    args.push(path_str(&s));
    let send = |child: &std::process::Child| {
        let st = std::process::Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill failed");
    };
    signal_served(sb.command(&args), ready, send)
}

/// Runs `cmd` (a serving ned, or something that runs one), waits for
/// `ready` lines, calls `send` to signal it, and returns what
/// [`serve_and_signal`] does, with `cmd`'s own status.
pub(crate) fn signal_served(
    mut cmd: std::process::Command,
    ready: usize,
    send: impl FnOnce(&std::process::Child),
) -> (String, String, Option<i32>, f64) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ned");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines
        .iter()
        .filter(|l: &&String| l.ends_with("| ready"))
        .count()
        < ready
    {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => lines.push(l),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tasks never became ready: {lines:?}");
            }
        }
    }
    let sent = Instant::now();
    send(&child);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ned did not exit after the signal: {lines:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = sent.elapsed().as_secs_f64();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        lines.push(l);
    }
    let stderr = err.join().unwrap_or_default();
    (lines.join("\n"), stderr, status.code(), took)
}

/// Every task whose pid the script printed (`pid <name> <pid>`) is gone.
pub(crate) fn assert_tasks_gone(out: &str) {
    for pid in pids(out) {
        assert!(
            wait_for(Duration::from_secs(10), || !pid_alive(pid)),
            "task {pid} outlived ned"
        );
    }
}

#[test]
fn sigterm_terminates_children_with_grace_then_sigkill() {
    let sb = Sandbox::new();
    let (out, err, code, took) = serve_and_signal(
        &sb,
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local polite = ld:startv({ log = { 'polite' } }, '/bin/sh', '-c', 'echo ready; exec /bin/sleep 100')\n\
         polite:exit_handler(function(c) print('handler polite', c, polite:signal()) end)\n\
         print('pid', 'polite', polite:pid())\n\
         -- SIG_IGN survives exec: this sleep ignores SIGTERM.\n\
         local stubborn = ld:startv({ log = { 'stubborn' } }, '/bin/sh', '-c', \"trap '' TERM; echo ready; exec /bin/sleep 100\")\n\
         stubborn:exit_handler(function(c) print('handler stubborn', c, stubborn:signal()) end)\n\
         print('pid', 'stubborn', stubborn:pid())\n",
        2,
        "-TERM",
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.contains("handler polite\tnil\t15"), "{out}\n{err}");
    assert!(out.contains("handler stubborn\tnil\t9"), "{out}\n{err}");
    // SIGKILL only after the 3 s grace period (a lower bound only: a
    // loaded machine may take longer, never shorter).
    assert!(
        took >= 2.5,
        "stubborn task killed after {took} s, before the grace period"
    );
    assert_tasks_gone(&out);
}

#[test]
fn sigint_terminates_children_and_runs_handlers() {
    let sb = Sandbox::new();
    let (out, err, code, _) = serve_and_signal(
        &sb,
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({ log = { 'task' } }, '/bin/sh', '-c', 'echo ready; exec /bin/sleep 100')\n\
         t:exit_handler(function(c) print('handler task', c) end)\n\
         print('pid', 'task', t:pid())\n",
        1,
        "-INT",
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("handler task\tnil"), "{out}\n{err}");
    assert_tasks_gone(&out);
}

/// A boot script that never returns cannot make ned deaf to SIGTERM: the
/// signal interrupts the script, then ned shuts its tasks down as usual.
#[test]
fn sigterm_interrupts_a_script_that_never_returns() {
    let sb = Sandbox::new();
    let (out, err, code, _) = serve_and_signal(
        &sb,
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({ log = { 'task' } }, '/bin/sleep', '100')\n\
         t:exit_handler(function(c) print('handler task', c) end)\n\
         print('pid', 'task', t:pid())\n\
         print('script | ready')\n\
         while true do end\n",
        1,
        "-TERM",
    );
    assert_eq!(code, Some(1), "the script failed: {out}\n{err}");
    assert!(err.contains("interrupted by signal 15"), "{err}");
    assert!(out.contains("handler task\tnil"), "{out}\n{err}");
    assert_tasks_gone(&out);
}

/// Nor can a Lunatik runtime the script resumes: a runaway body, even one
/// that catches every error with `pcall`, is interrupted by SIGTERM.
#[test]
fn sigterm_interrupts_a_runaway_runtime() {
    let sb = Sandbox::new();
    sb.file(
        "spin.lua",
        "return function() while true do pcall(function() while true do end end) end end\n",
    );
    let (out, err, code, _) = serve_and_signal(
        &sb,
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({ log = { 'task' } }, '/bin/sleep', '100')\n\
         t:exit_handler(function(c) print('handler task', c) end)\n\
         print('pid', 'task', t:pid())\n\
         local rt = require('lunatik').runtime('spin')\n\
         print('script | ready')\n\
         rt:resume()\n",
        1,
        "-TERM",
    );
    assert_eq!(code, Some(1), "the script failed: {out}\n{err}");
    assert!(err.contains("interrupted by a shutdown signal"), "{err}");
    assert!(out.contains("handler task\tnil"), "{out}\n{err}");
    assert_tasks_gone(&out);
}

/// `L4.sleep` with a huge value is bounded by SIGTERM (spec §15, issue 8):
/// logs flow while asleep (the task's `ready` arrives), the signal ends the
/// sleep at once, and ned shuts its tasks down as usual.
#[test]
fn sigterm_ends_a_huge_sleep_at_once() {
    let sb = Sandbox::new();
    let (out, err, code, took) = serve_and_signal(
        &sb,
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({ log = { 'task' } }, '/bin/sh', '-c', 'echo ready; exec /bin/sleep 100')\n\
         t:exit_handler(function(c) print('handler task', c) end)\n\
         print('pid', 'task', t:pid())\n\
         L4.sleep(1e9)\n\
         print('not reached')\n",
        1,
        "-TERM",
    );
    assert_eq!(code, Some(1), "the script failed: {out}\n{err}");
    assert!(out.contains("Ned: Sleeping 1000000000.0s"), "{out}");
    assert!(err.contains("sleep: interrupted by signal 15"), "{err}");
    assert!(!out.contains("not reached"), "{out}");
    assert!(out.contains("handler task\tnil"), "{out}\n{err}");
    assert!(took < 2.5, "ned took {took} s to end a sleep after SIGTERM");
    assert_tasks_gone(&out);
}
