//! Readiness (issue 11 point 3, docs/readiness.md) with real clients
//! nobody here wrote: Debian's `systemd-notify` and Python's `sdnotify`
//! from PyPI (both installed by .ci/run). Datagrams from strangers are
//! ignored and counted, a flood of them neither stalls ned nor hides the
//! task's own READY=1, and a task that misses its watchdog is killed.

use crate::exits::{assert_tasks_gone, pids};
use crate::sockets::python;
use crate::util::Sandbox;

/// A python3 that has the `sdnotify` package (pip's, found on PATH).
fn python_with_sdnotify() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sdnotify, sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "python3 lacks sdnotify (pip install sdnotify; .ci/run does):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn systemd_notify() -> &'static str {
    let p = "/usr/bin/systemd-notify";
    assert!(
        std::path::Path::new(p).exists(),
        "systemd-notify is needed (apt-get install systemd; .ci/run does)"
    );
    p
}

#[test]
fn systemd_notify_ready_and_status_reach_the_script() {
    let sb = Sandbox::new();
    let src = format!(
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({{ notify = true, log = {{ 'db' }} }}, '/bin/sh', '-c',\n\
           'sleep 0.1; {sn} --ready --status=serving; sleep 0.3')\n\
         print('pid', 'db', t:pid())\n\
         print('before', t:ready(), t:status())\n\
         t:on_ready(function(task) print('on_ready', task:ready(), task:status()) end)\n\
         t:exit_handler(function(code) print('exit', code, L4.notify_strangers()) end)\n",
        sn = systemd_notify()
    );
    let out = sb.wait_and_exit(&src);
    out.ok().no_lua_error();
    out.stdout_has("before\tfalse\tnil")
        .stdout_has("on_ready\ttrue\tserving")
        // systemd-notify's own barrier datagram is answered, not counted.
        .stdout_has("exit\t0\t0");
    assert!(!out.stderr.contains("ignoring a notify datagram"), "{out}");
    assert_tasks_gone(&out.stdout);
}

#[test]
fn python_sdnotify_ready_and_status_reach_the_script() {
    let sb = Sandbox::new();
    let py = python_with_sdnotify();
    let src = format!(
        "local L4 = require('L4')\n\
         local t = L4.default_loader:startv({{ notify = true, log = {{ 'py' }} }}, '{py}', '-c',\n\
           'import sdnotify, time\\n\
n = sdnotify.SystemdNotifier(debug=True)\\n\
n.notify(\"STATUS=warming up\")\\n\
n.notify(\"READY=1\\\\nSTATUS=serving 3 clients\")\\n\
time.sleep(0.3)\\n\
n.notify(\"STOPPING=1\")\\n\
time.sleep(0.2)')\n\
         t:on_ready(function(task) print('on_ready', task:status()) end)\n\
         L4.every(10, function(tm) if t:stopping() then print('stopping', true); tm:cancel() end end)\n\
         t:exit_handler(function(code) print('exit', code, L4.notify_strangers()) end)\n"
    );
    let out = sb.wait_and_exit(&src);
    out.ok().no_lua_error();
    out.stdout_has("on_ready\tserving 3 clients")
        .stdout_has("stopping\ttrue")
        .stdout_has("exit\t0\t0");
}

/// A child of the task sends from its own pid: a stranger, counted and
/// ignored; the task itself (after `exec`, same pid) is credited. A flood
/// of 20000 stranger datagrams first: every one is counted, none is
/// credited, and the task's own READY=1 still gets through.
#[test]
fn strangers_and_a_flood_of_them_are_ignored_and_counted() {
    let sb = Sandbox::new();
    let py = python();
    let send = |what: &str, n: usize| {
        format!(
            "{py} -c \"import os, socket\n\
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
for i in range({n}): s.sendto(b\\\"{what}\\\", os.environ[\\\"NOTIFY_SOCKET\\\"])\""
        )
    };
    sb.exe(
        "task.sh",
        &format!(
            "#!/bin/sh\n{}\n{}\necho sent\nsleep 0.2\nexec {}\n",
            send("READY=1", 1),
            send("STATUS=flood", 20000),
            send("READY=1\\\\nSTATUS=me", 1)
        ),
    );
    let src = "local L4 = require('L4')\n\
         local t = L4.default_loader:start({ notify = true, log = { 'task' } }, 'rom/task.sh')\n\
         print('pid', 'task', t:pid())\n\
         t:on_ready(function(task) print('ready', task:status(), L4.notify_strangers()) end)\n";
    let out = sb.wait_and_exit(src);
    out.ok().no_lua_error();
    out.stdout_has("task | sent").stdout_has("ready\tme\t20001");
    out.stderr_has("ignoring a notify datagram from pid");
    assert_eq!(
        out.stderr.matches("ignoring a notify datagram").count(),
        1,
        "reported once:\n{out}"
    );
    assert_eq!(pids(&out.stdout).len(), 1);
}

#[test]
fn a_task_that_misses_its_watchdog_is_killed_and_one_that_pings_is_not() {
    let sb = Sandbox::new();
    let py = python();
    let src = format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local silent = ld:startv({{ watchdog = 100, log = {{ 'silent' }} }}, '/bin/sleep', '100')\n\
         local pinger = ld:startv({{ watchdog = 300, log = {{ 'pinger' }} }}, '{py}', '-c',\n\
           'import os, socket, time\\n\
assert os.environ[\"WATCHDOG_USEC\"] == \"300000\"\\n\
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\\n\
for i in range(20):\\n    s.sendto(b\"WATCHDOG=1\", os.environ[\"NOTIFY_SOCKET\"]); time.sleep(0.05)')\n\
         silent:exit_handler(function(code) print('silent', code, silent:signal()) end)\n\
         pinger:exit_handler(function(code) print('pinger', code, pinger:signal()) end)\n"
    );
    let out = sb.wait_and_exit(&src);
    out.ok().no_lua_error();
    out.stdout_has("silent\tnil\t9")
        .stdout_has("pinger\t0\tnil");
    out.stderr_has("failed its watchdog (missed it by");
    assert_eq!(
        out.stderr.matches("failed its watchdog").count(),
        1,
        "{out}"
    );
}
