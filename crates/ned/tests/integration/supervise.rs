//! ned.supervise in action (issue 11 point 5, docs/supervise.md): a crash
//! loop held by its backoff and ended by its restart limit, dependents
//! started only once their dependency is ready, restart with backoff 0,
//! and the ordered stop with SIGKILL for a task that ignores its stop
//! signal. The policy logic itself is unit-tested in tests/lua/supervise.lua;
//! examples/boot.lua is run here too, stopped with Ctrl-C (SIGINT).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::exits::assert_tasks_gone;
use crate::util::{KillOnDrop, Sandbox, path_str, pid_alive, wait_for};

#[test]
fn a_crash_loop_backs_off_and_gives_up_at_its_limit() {
    let sb = Sandbox::new();
    let src = "local L4 = require('L4')\n\
        local sv = require('ned.supervise').new()\n\
        local t0 = L4.now()\n\
        sv:add('crash', { argv = { '/bin/sh', '-c', 'exit 3' }, restart = 'always', limit = 4,\n\
          backoff = { initial = 50, factor = 2, max = 200, jitter = 0 },\n\
          on_give_up = function(name, code) print('gave up', name, code, sv:starts(name), sv:state(name),\n\
            L4.now() - t0 >= 50 + 100 + 200 + 200) end })\n\
        sv:start()\n";
    let out = sb.wait_and_exit(src);
    out.ok().no_lua_error();
    out.stdout_has("gave up\tcrash\t3\t5\tfailed\ttrue");
    out.stderr_has(
        "ned.supervise: 'crash' exited with code 3 5 times in a row; giving up (restart limit 4)",
    );
}

#[test]
fn on_failure_restarts_crashes_only_and_backoff_zero_restarts_at_once() {
    let sb = Sandbox::new();
    sb.exe(
        "flaky.sh",
        "#!/bin/sh\n# fails twice, then succeeds\nn=$(cat count 2>/dev/null || echo 0)\n\
         echo $((n+1)) > count\n[ $n -ge 2 ] && exit 0\nexit 1\n",
    );
    let src = "local L4 = require('L4')\n\
        local sv = require('ned.supervise').new()\n\
        sv:add('flaky', { cmd = 'rom/flaky.sh', restart = 'on-failure',\n\
          backoff = { initial = 0, max = 0 },\n\
          on_exit = function(code, sig, name) print('exit', name, code) end })\n\
        sv:add('once', { argv = { '/bin/sh', '-c', 'exit 0' }, restart = 'never' })\n\
        sv:start()\n\
        L4.timer(300, function() print('state', sv:state('flaky'), sv:starts('flaky'), sv:state('once')) end)\n";
    let out = sb.wait_and_exit(src);
    out.ok().no_lua_error();
    out.stdout_has("exit\tflaky\t1")
        .stdout_has("exit\tflaky\t0")
        .stdout_has("state\tdone\t3\tdone");
    assert_eq!(out.stdout.matches("exit\tflaky").count(), 3, "{out}");
}

/// The workers start only after the database sent READY=1 (systemd-notify,
/// after 300 ms), and stop() stops them before it, in reverse order; the
/// one that ignores SIGTERM is killed after its stop timeout.
#[test]
fn dependents_wait_for_readiness_and_stop_goes_in_reverse_order() {
    let sb = Sandbox::new();
    sb.exe(
        "db.sh",
        "#!/bin/sh\ntrap 'echo db stopping; exit 0' TERM\nsleep 0.3\n\
         /usr/bin/systemd-notify --ready\necho up\nwhile :; do sleep 0.05; done\n",
    );
    sb.exe(
        "stubborn.sh",
        "#!/bin/sh\ntrap '' TERM\necho started\nwhile :; do sleep 0.05; done\n",
    );
    let src = "local L4 = require('L4')\n\
        local sv = require('ned.supervise').new()\n\
        sv:add('db', { cmd = 'rom/db.sh', env = { notify = true },\n\
          on_ready = function(t, name) print('ready', name) end,\n\
          on_exit = function(code, sig, name) print('exit', name, code, sig) end })\n\
        for _, w in ipairs({ 'w1', 'w2' }) do\n\
          sv:add(w, { cmd = 'rom/stubborn.sh', after = { 'db' }, stop_timeout = 200,\n\
            on_ready = function(t, name) print('started', name, sv:state('db')); print('pid', name, t:pid()) end })\n\
        end\n\
        sv:start()\n\
        print('at start', sv:state('db'), sv:state('w1'))\n\
        L4.timer(800, function() sv:stop(); print('stopped', sv:state('db'), sv:state('w1')) end)\n";
    let out = sb.wait_and_exit(src);
    out.ok().no_lua_error();
    out.stdout_has("at start\trunning\twaiting")
        .stdout_has("started\tw1\tready")
        .stdout_has("started\tw2\tready")
        .stdout_has("stopped\tstopped\tstopped");
    let at = |s: &str| {
        out.stdout
            .find(s)
            .unwrap_or_else(|| panic!("no {s:?}:\n{out}"))
    };
    assert!(at("ready\tdb") < at("started\tw1"), "{out}");
    // Reverse order: both workers are killed (they ignore SIGTERM) before
    // the database is asked to stop.
    out.stderr_has("'w2' did not stop within 200 ms of signal 15; killing its tree")
        .stderr_has("'w1' did not stop within 200 ms of signal 15; killing its tree");
    assert!(
        out.stderr.find("'w2' did not").unwrap() < out.stderr.find("'w1' did not").unwrap(),
        "{out}"
    );
    assert!(at("db | db stopping") > at("started\tw2"), "{out}");
    assert_tasks_gone(&out.stdout);
}

/// examples/boot.lua until Ctrl-C: the database is ready, the workers
/// start after it, the periodic job runs, the crashing worker restarts,
/// and SIGINT shuts everything down cleanly (exit status 0).
#[test]
fn the_boot_example_runs_until_ctrl_c() {
    let sb = Sandbox::new();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for e in std::fs::read_dir(root.join("boot")).expect("examples/boot") {
        let p = e.expect("entry").path();
        let name = p.file_name().unwrap().to_str().unwrap().to_owned();
        sb.exe(
            &format!("boot_{name}"),
            &std::fs::read_to_string(&p).unwrap(),
        );
    }
    let script = std::fs::read_to_string(root.join("boot.lua")).expect("examples/boot.lua");
    // The test's own line: every task's pid, to check none outlives ned.
    let pids = "\nL4.every(50, function() for _, n in ipairs({ 'db', 'worker-a', 'worker-b' }) do \
                local t = sv:task(n) if t then print('boot: pid ' .. t:pid()) end end end)\n";
    let s = sb.file("boot.lua", script.replace("rom/boot/", "rom/boot_") + pids);
    let mut child = KillOnDrop::spawn(
        sb.command(&[path_str(&s)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = child
        .0
        .as_mut()
        .and_then(|c| c.stdout.take())
        .expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Up: the crashed worker was restarted and the job reported.
    while !(lines.iter().any(|l: &String| l.contains("restart 1"))
        && lines.iter().any(|l| l.starts_with("report")))
    {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => lines.push(l),
            Err(_) if Instant::now() < deadline => {}
            Err(_) => panic!("boot never came up: {lines:?}"),
        }
    }
    child.signal("-INT");
    let mut c = child.take();
    let stderr = c.stderr.take().expect("stderr");
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    assert!(
        wait_for(Duration::from_secs(30), || c
            .try_wait()
            .ok()
            .flatten()
            .is_some()),
        "ned did not stop on SIGINT: {lines:?}"
    );
    let status = c.wait().expect("wait");
    // Until the reader saw the end of ned's stdout (it then drops `tx`).
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(10)) {
        lines.push(l);
    }
    let err = err.join().unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{lines:?}\n{err}");
    assert!(
        !err.contains("lua error") && !err.contains("panicked"),
        "{err}"
    );
    // Tags are padded to the widest one seen so far, which depends on
    // whether a line was read before or after a longer-tagged task
    // started: compare without the padding.
    let all = lines
        .iter()
        .map(|l| match l.split_once(" | ") {
            Some((tag, rest)) => format!("{} | {rest}", tag.trim_end()),
            None => l.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    for want in [
        "db | accepting connections",
        "boot: db is ready: serving",
        "worker-a | working",
        "worker-b | crashing",
        "boot: worker-b exited (code 1), restart 1",
        "shutting down cleanly",
    ] {
        assert!(all.contains(want), "missing {want:?}:\n{all}\n{err}");
    }
    let at = |w: &str| all.find(w).unwrap_or(usize::MAX);
    assert!(at("boot: db is ready") < at("worker-a | working"), "{all}");
    // Ctrl-C is taken by the script, which stops in dependency order.
    assert!(
        at("boot: INT: stopping in order") < at("worker-a | stopping")
            && at("worker-a | stopping") < at("db | shutting down cleanly"),
        "not stopped in order:\n{all}"
    );
    let pids: Vec<i64> = all
        .lines()
        .filter_map(|l| l.strip_prefix("boot: pid "))
        .filter_map(|p| p.parse().ok())
        .collect();
    assert!(!pids.is_empty(), "{all}");
    for pid in pids {
        assert!(
            wait_for(Duration::from_secs(10), || !pid_alive(pid)),
            "{pid} outlived ned"
        );
    }
}

/// stop() ends the whole tree: a grandchild that left the task's process
/// group with setsid and ignores SIGTERM does not survive the SIGKILL.
#[test]
fn stop_kills_a_grandchild_that_left_the_process_group() {
    let sb = Sandbox::new();
    sb.exe(
        "wrapper.sh",
        "#!/bin/sh\ntrap '' TERM\nsetsid /bin/sh -c 'trap \"\" TERM; echo \"pid grandchild $$\"; \
         while :; do sleep 0.05; done' &\nwhile :; do sleep 0.05; done\n",
    );
    let src = "local L4 = require('L4')\n\
        local sv = require('ned.supervise').new()\n\
        sv:add('wrap', { cmd = 'rom/wrapper.sh', stop_timeout = 100 })\n\
        sv:start()\n\
        L4.timer(300, function() sv:stop(); print('stopped', sv:state('wrap')) end)\n";
    let out = sb.wait_and_exit(src);
    out.ok().no_lua_error();
    out.stdout_has("stopped\tstopped")
        .stderr_has("'wrap' did not stop within 100 ms of signal 15; killing its tree");
    let pids: Vec<i64> = out
        .stdout
        .lines()
        .filter_map(|l| l.split("pid grandchild ").nth(1)?.trim().parse().ok())
        .collect();
    assert_eq!(pids.len(), 1, "{out}");
    assert!(
        wait_for(Duration::from_secs(10), || !pid_alive(pids[0])),
        "grandchild {} survived stop()",
        pids[0]
    );
}

/// Timers are events of the serve loop: none runs while the script is in
/// `wait()` (a periodic one that came due many times meanwhile runs once),
/// and an error in a callback is reported like a handler's while ned goes
/// on.
#[test]
fn timers_wait_for_the_script_and_report_their_errors() {
    let sb = Sandbox::new();
    let src = "local L4 = require('L4')\n\
        local ticks = 0\n\
        local tick = L4.every(5, function() ticks = ticks + 1 end)\n\
        L4.timer(1, function() print('one-shot ran') end)\n\
        L4.timer(2, function() error('boom in timer') end)\n\
        L4.default_loader:start({}, '/bin/sleep 0.2'):wait()\n\
        print('wait returned', ticks)\n\
        L4.timer(30, function() print('ticks after wait', ticks < 10); tick:cancel() end)\n";
    let out = sb.wait_and_exit(src);
    out.ok();
    out.stdout_has("wait returned\t0")
        .stdout_has("one-shot ran")
        .stdout_has("ticks after wait\ttrue");
    out.stderr_has("lua error: ").stderr_has("boom in timer");
    let at = |s: &str| out.stdout.find(s).unwrap_or(usize::MAX);
    assert!(at("wait returned") < at("one-shot ran"), "{out}");
}
