//! How ned ends, whatever the script holds or does (issues 7 and 17): tasks
//! held in globals, upvalues, the registry and rcu tables under every exit
//! path; finalizers that call ned while the state closes; `os.exit`; stray
//! signals; restarts during shutdown; and the wedges a task, a parent or a
//! client could cause. Every case asserts ned's exit status and that no
//! task outlives it.

use std::time::Duration;

use crate::exits::{assert_tasks_gone, pids, serve_and_signal};
use crate::util::{KillOnDrop, Sandbox, path_str, pid_alive, run, wait_for};

/// What the finalizer that tried to start a task while the state closed
/// got: refused, so no process.
fn assert_gc_start_refused(sb: &Sandbox) {
    let got = std::fs::read_to_string(sb.root.join("gc.out")).expect("the finalizer ran");
    assert_eq!(got, "false false", "a finalizer started a task at close");
}

/// A script that keeps tasks everywhere a script can keep them, with a
/// finalizer that calls ned (and one that re-arms itself) while the state
/// closes.
const HOLDER: &str = "local L4 = require('L4')\n\
    local ld = L4.default_loader\n\
    T = ld:start({ log = { 'global' } }, '/bin/sleep 100')\n\
    print('pid', 'global', T:pid())\n\
    local up = ld:start({ log = { 'upvalue' } }, '/bin/sleep 100')\n\
    print('pid', 'upvalue', up:pid())\n\
    function get_up() return up end\n\
    local kept = {}\n\
    kept[1] = ld:start({ log = { 'kept' } }, '/bin/sleep 100')\n\
    print('pid', 'kept', kept[1]:pid())\n\
    T:exit_handler(function(c) print('handler global', c, kept[1]) end)\n\
    package.loaded.held = ld:start({ log = { 'registry' } }, '/bin/sleep 100')\n\
    print('pid', 'registry', package.loaded.held:pid())\n\
    local rcu = require('rcu')\n\
    R = rcu.table()\n\
    R.chan = ld:new_channel()\n\
    G = setmetatable({}, { __gc = function()\n\
      local ok, t = pcall(ld.start, ld, {}, '/bin/sleep 100')\n\
      local f = io.open('gc.out', 'w') f:write(tostring(ok), ' ', tostring(ok and t:pid())) f:close()\n\
    end })\n\
    local function arm() return setmetatable({}, { __gc = function() A = arm(); T:kill() end }) end\n\
    A = arm()\n\
    print('script | ready')\n";

#[test]
fn held_tasks_end_cleanly_under_exit_and_wait_and_exit() {
    for mode in ["--exit", "--wait-and-exit"] {
        let sb = Sandbox::new();
        // --wait-and-exit: the tasks end on their own (short sleeps).
        let src = if mode == "--exit" {
            HOLDER.to_owned()
        } else {
            HOLDER.replace("/bin/sleep 100", "/bin/sleep 0.2")
        };
        let out = sb.run_script(mode, "held.lua", &src);
        out.ok();
        assert_eq!(pids(&out.stdout).len(), 4, "{out}");
        out.stdout_has("handler global\t");
        assert_tasks_gone(&out.stdout);
        assert_gc_start_refused(&sb);
    }
}

#[test]
fn held_tasks_end_cleanly_on_sigterm() {
    let sb = Sandbox::new();
    let (out, err, code, _) = serve_and_signal(&sb, HOLDER, 1, "-TERM");
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.contains("handler global\tnil"), "{out}\n{err}");
    assert_eq!(pids(&out).len(), 4, "{out}");
    assert_tasks_gone(&out);
    assert_gc_start_refused(&sb);
}

#[test]
fn a_task_in_a_global_under_exit_from_the_command_line() {
    let sb = Sandbox::new();
    let out = sb.ned(&[
        "--exit",
        "-e",
        "T = require('L4').default_loader:start({}, '/bin/sleep 100') print('pid', 'T', T:pid())",
        "/dev/null",
    ]);
    out.ok();
    assert_tasks_gone(&out.stdout);
}

#[test]
fn os_exit_shuts_down_in_order_with_its_status() {
    let cases = [
        ("os.exit(3)", 3),
        ("os.exit(true)", 0),
        ("os.exit(false)", 1),
        ("os.exit()", 0),
        // pcall cannot keep the script running: the flag stays set and the
        // count hook raises again.
        (
            "pcall(os.exit, 4) while true do pcall(function() end) end",
            4,
        ),
    ];
    for (call, status) in cases {
        let sb = Sandbox::new();
        let out = sb.ned(&[
            "-e",
            &format!(
                "local t = require('L4').default_loader:start({{ log = {{ 't' }} }}, '/bin/sleep 100')\n\
                 t:exit_handler(function(c) print('handler', c) end)\n\
                 print('pid', 't', t:pid())\n\
                 {call}\n\
                 print('not reached')"
            ),
            "-e",
            "print('next statement not reached')",
            "/dev/null",
        ]);
        out.clean().status(status);
        out.stdout_has("handler\tnil");
        assert!(!out.stdout.contains("not reached"), "{call}: {out}");
        assert!(!out.stderr.contains("lua error"), "{call}: {out}");
        assert_tasks_gone(&out.stdout);
    }
}

#[test]
fn os_exit_in_an_exit_handler_stops_the_other_tasks() {
    let sb = Sandbox::new();
    let out = sb.run_script(
        "",
        "h.lua",
        "local ld = require('L4').default_loader\n\
         local long = ld:start({ log = { 'long' } }, '/bin/sleep 100')\n\
         print('pid', 'long', long:pid())\n\
         long:exit_handler(function(c) print('long handler', c) end)\n\
         ld:start({ log = { 'short' } }, '/bin/true'):exit_handler(function(c) print('short handler', c) os.exit(5) end)\n",
    );
    out.clean().status(5);
    out.stdout_has("short handler\t0")
        .stdout_has("long handler\tnil");
    assert_tasks_gone(&out.stdout);
}

#[test]
fn stray_signals_do_not_end_ned() {
    let sb = Sandbox::new();
    let s = sb.file(
        "serve.lua",
        "local t = require('L4').default_loader:start({ log = { 't' } }, '/bin/sleep 100')\n\
         print('pid', 't', t:pid())\n",
    );
    let mut child = KillOnDrop::spawn(&mut sb.command(&[path_str(&s)]));
    // Let ned block its signals and start the task.
    std::thread::sleep(Duration::from_millis(300));
    for sig in [
        "USR1", "USR2", "ALRM", "VTALRM", "PROF", "IO", "PWR", "XCPU", "XFSZ", "34", "64", "SEGV",
        "BUS", "TRAP", "SYS",
    ] {
        child.signal(&format!("-{sig}"));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child
            .0
            .as_mut()
            .map(|c| c.try_wait().expect("try_wait").is_none())
            == Some(true),
        "a stray signal ended ned"
    );
    child.signal("-TERM");
    let out = crate::util::finish(child.take(), Duration::from_secs(30));
    out.ok();
    out.stderr_has("ignoring SIGUSR1")
        .stderr_has("ignoring SIGRTMIN");
    assert_eq!(
        out.stderr.matches("ignoring SIGUSR1").count(),
        1,
        "one line per signal: {out}"
    );
    assert_tasks_gone(&out.stdout);
}

/// Restarting from an exit handler (the only restart there is today) must
/// not leak tasks past shutdown: start() refuses once shutdown began, and
/// `L4.shutting_down()` tells the handler.
#[test]
fn restarts_are_refused_once_shutdown_began() {
    let sb = Sandbox::new();
    let (out, err, code, _) = serve_and_signal(
        &sb,
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         assert(L4.shutting_down() == false)\n\
         local function run()\n\
           local t = ld:startv({ log = { 'svc' } }, '/bin/sh', '-c', 'echo ready; exec /bin/sleep 100')\n\
           print('pid', 'svc', t:pid())\n\
           t:exit_handler(function()\n\
             print('shutting down', L4.shutting_down())\n\
             local ok, e = pcall(run)\n\
             print('restart', ok, e)\n\
           end)\n\
         end\n\
         run()\n",
        1,
        "-TERM",
    );
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("shutting down\ttrue"), "{out}");
    assert!(out.contains("restart\tfalse"), "{out}");
    assert!(out.contains("ned is shutting down"), "{out}");
    assert_eq!(pids(&out).len(), 1, "{out}");
    assert_tasks_gone(&out);
}

#[test]
fn the_signal_stays_readable_after_wait_and_kill() {
    let sb = Sandbox::new();
    sb.wait_and_exit(
        "local ld = require('L4').default_loader\n\
         local t = ld:start({}, '/bin/sleep 100')\n\
         t:kill(15)\n\
         assert(t:wait() == nil)\n\
         assert(t:state() == nil and t:exit_code() == nil)\n\
         assert(t:signal() == 15, tostring(t:signal()))\n\
         local u = ld:start({}, '/bin/sleep 100')\n\
         u:kill(2)\n\
         while u:state() == 'running' do ld:start({}, '/bin/true'):wait() end\n\
         assert(u:kill() == nil)\n\
         assert(u:signal() == 2, tostring(u:signal()))\n\
         local v = ld:start({}, '/bin/true')\n\
         assert(v:wait() == 0 and v:signal() == nil)\n",
    )
    .ok()
    .no_lua_error();
}

/// A parent that ignores SIGCHLD (which survives exec) must not wedge ned:
/// every exit is still reported once and ned ends.
#[test]
fn an_ignored_sigchld_in_the_parent_does_not_wedge_ned() {
    let sb = Sandbox::new();
    let s = sb.file(
        "c.lua",
        "local ld = require('L4').default_loader\n\
         for i = 1, 3 do\n\
           ld:startv({}, '/bin/sh', '-c', 'exit ' .. i):exit_handler(function(c) print('handler', i, c) end)\n\
         end\n",
    );
    // dash's `trap '' CHLD` does not reach exec; Python's SIG_IGN does.
    let script = format!(
        "import os, signal\n\
         signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n\
         os.execv('{ned}', ['{ned}', '--wait-and-exit', '{s}'])\n",
        ned = crate::util::ned_bin().display(),
        s = s.display()
    );
    let out = run(std::process::Command::new("python3")
        .args(["-c", &script])
        .current_dir(&sb.root)
        .env("NO_COLOR", "1"));
    out.ok();
    for i in 1..=3 {
        out.stdout_has(&format!("handler\t{i}\t{i}"));
    }
}

/// A channel whose server never accepts: once its backlog is full, the next
/// client start fails at once with a clear error instead of blocking ned.
#[test]
fn a_full_channel_backlog_fails_the_start() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local ld = require('L4').default_loader\n\
         local ch = ld:new_channel()\n\
         local n, err = 0, nil\n\
         while n < 10000 do\n\
           local ok, e = pcall(ld.start, ld, { caps = { c = ch } }, '/bin/true')\n\
           if not ok then err = e break end\n\
           n = n + 1\n\
         end\n\
         print('started', n)\n\
         print('error', err)\n",
    );
    out.ok();
    out.stdout_has("failed to grant capability 'c'")
        .stdout_has("backlog is full");
    let n: usize = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("started\t")?.parse().ok())
        .expect("count");
    assert!((4000..=4200).contains(&n), "{n} clients before the error");
}

/// A grandchild that keeps a task's log pipe open and floods it: the task's
/// exit is still reported at once (the drain reads only what the pipe held
/// at the exit), and ned goes on serving.
#[test]
fn a_flooding_grandchild_does_not_hold_ned_in_the_exit_drain() {
    let sb = Sandbox::new();
    let pidfile = sb.root.join("yes.pid");
    let out = sb.wait_and_exit(&format!(
        "local ld = require('L4').default_loader\n\
         local t = ld:startv({{ log = {{ 'flood' }} }}, '/bin/sh', '-c', 'yes flood & echo $! > {}; exit 7')\n\
         t:exit_handler(function(c) print('handler', c) end)\n",
        pidfile.display()
    ));
    let yes: i64 = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("grandchild pid");
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &yes.to_string()])
        .status();
    out.ok().stdout_has("handler\t7");
    assert!(wait_for(Duration::from_secs(10), || !pid_alive(yes)));
}

/// CPU time (user + system) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted after the `(comm)` field.
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// A second SIGTERM (and a stray SIGUSR1) during the grace period must not
/// leave a signal pending that keeps the loop busy: ned waits out the
/// grace period idle, then ends the stubborn task.
#[test]
fn signals_during_the_grace_period_do_not_make_ned_spin() {
    let sb = Sandbox::new();
    let s = sb.file(
        "grace.lua",
        "local t = require('L4').default_loader:startv({ log = { 'stubborn' } }, '/bin/sh', '-c', \"trap '' TERM; echo ready; exec /bin/sleep 100\")\n\
         print('pid', 'stubborn', t:pid())\n",
    );
    let mut child = KillOnDrop::spawn(&mut sb.command(&[path_str(&s)]));
    let pid = child.pid();
    std::thread::sleep(Duration::from_millis(500));
    child.signal("-TERM");
    std::thread::sleep(Duration::from_millis(200));
    child.signal("-TERM");
    child.signal("-USR1");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(1500));
    let spent = cpu_ticks(pid) - before;
    let out = crate::util::finish(child.take(), Duration::from_secs(30));
    out.ok();
    // 1.5 s of a spinning loop is ~150 ticks; an idle wait is ~0.
    assert!(spent < 30, "ned used {spent} ticks while waiting: {out}");
    assert_tasks_gone(&out.stdout);
}

/// At the normal end (`--exit`) blocking modes still block: an exit handler
/// that sleeps really sleeps (a lower bound only: a loaded machine may take
/// longer, never shorter).
#[test]
fn an_exit_handler_may_sleep_at_the_normal_end() {
    let sb = Sandbox::new();
    let started = std::time::Instant::now();
    let out = sb.run_script(
        "--exit",
        "end.lua",
        "local L4 = require('L4')\n\
         local t = L4.default_loader:start({}, '/bin/sleep 100')\n\
         print('pid', 't', t:pid())\n\
         t:exit_handler(function() L4.msleep(400) print('slept', L4.shutting_down()) end)\n",
    );
    out.ok().stdout_has("Ned: Sleeping 400ms\nslept\ttrue");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "the handler's sleep returned early: {out}"
    );
    assert_tasks_gone(&out.stdout);
}

/// A stray signal does not interrupt a Lunatik runtime that the script
/// resumes (only shutdown signals do).
#[test]
fn a_stray_signal_does_not_interrupt_a_runtime() {
    let sb = Sandbox::new();
    sb.file(
        "busy.lua",
        "return function() local t = os.clock() while os.clock() - t < 1.5 do end return 'done' end\n",
    );
    let s = sb.file(
        "r.lua",
        "local rt = require('lunatik').runtime('busy')\n\
         print('ready')\n\
         print(rt:resume())\n",
    );
    let mut child = KillOnDrop::spawn(&mut sb.command(&[
        "--wait-and-exit",
        "--lua-root",
        path_str(&sb.rom()),
        path_str(&s),
    ]));
    std::thread::sleep(Duration::from_millis(500));
    child.signal("-USR1");
    let out = crate::util::finish(child.take(), Duration::from_secs(30));
    out.ok().stdout_has("done").no_lua_error();
}
