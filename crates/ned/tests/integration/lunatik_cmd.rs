//! The `lunatik` command against a running ned (issue 14, point 4): run,
//! spawn, stop and list through `ned --control`, upstream's duplicate-run
//! message, and a non-zero status with a clear message for every failure —
//! hostile names included — while ned keeps serving.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{
    KillOnDrop, Out, Sandbox, finish, ned_bin, path_str, pid_alive, run, sibling_bin, wait_for,
};

fn lunatik_bin() -> PathBuf {
    sibling_bin("lunatik")
}

fn lunatik(sock: &str, args: &[&str]) -> Out {
    run(Command::new(lunatik_bin())
        .arg("--control")
        .arg(sock)
        .args(args))
}

#[test]
fn lunatik_command_drives_the_runner_of_a_running_ned() {
    let sb = Sandbox::new();
    sb.file("echo.lua", "return function(...) return ... end\n");
    sb.file(
        "ticker.lua",
        "local thread = require('thread')\n\
         return function() while not thread.shouldstop() do thread.sleep(5) end end\n",
    );
    let boot = sb.file("boot.lua", "print('booted')\n");
    let sock = sb.root.join("ctl.sock");
    let sock = path_str(&sock).to_owned();
    let mut ned = KillOnDrop::spawn(
        Command::new(ned_bin())
            .args(["--control", &sock, "--lua-root"])
            .arg(sb.rom())
            .arg(&boot),
    );
    assert!(
        wait_for(Duration::from_secs(20), || std::path::Path::new(&sock)
            .exists()),
        "ned never made its control socket"
    );

    let out = lunatik(&sock, &["list"]);
    out.status(0);
    assert_eq!(out.stdout.trim(), "", "{out}");
    lunatik(&sock, &["run", "echo"]).status(0);
    lunatik(&sock, &["run", "echo.lua", "softirq"])
        .status(1)
        .stderr_has("echo is already running");
    lunatik(&sock, &["spawn", "ticker"]).status(0);
    let out = lunatik(&sock, &["list"]);
    out.status(0);
    assert_eq!(out.stdout.trim(), "echo, ticker", "{out}");

    // Failures: a missing script, names that climb out or are huge, a
    // script that is not what the name says; each exits 1 with a message.
    lunatik(&sock, &["run", "missing"])
        .status(1)
        .stderr_has("cannot open");
    lunatik(&sock, &["run", "../../etc/passwd"])
        .status(1)
        .stderr_has("escapes the Lua root");
    let long = "a".repeat(10 * 1024);
    lunatik(&sock, &["run", &long])
        .status(1)
        .stderr_has("invalid script name");
    lunatik(&sock, &["run", "x\"); os.exit(7) --"])
        .status(1)
        .stderr_has("cannot open");
    lunatik(&sock, &["bogus"]).status(2);

    // No command: the REPL (ned-prompt), here fed from a pipe.
    let mut repl = Command::new(lunatik_bin())
        .arg("--control")
        .arg(&sock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lunatik");
    repl.stdin
        .take()
        .expect("piped stdin")
        .write_all(b"require('lunatik.runner').list()\n")
        .expect("write to the REPL");
    let out = finish(repl, Duration::from_secs(30));
    out.status(0);
    assert_eq!(out.stdout.trim(), "echo, ticker", "{out}");

    lunatik(&sock, &["stop", "ticker"]).status(0);
    lunatik(&sock, &["stop", "echo"]).status(0);
    let out = lunatik(&sock, &["list"]);
    out.status(0);
    assert_eq!(out.stdout.trim(), "", "{out}");

    let pid = ned.pid();
    ned.signal("-TERM");
    let out = finish(ned.take(), Duration::from_secs(30));
    out.ok().stdout_has("booted");
    assert!(!pid_alive(i64::from(pid)), "ned is still there");

    // ned gone: status 3, saying so.
    lunatik(&sock, &["list"])
        .status(3)
        .stderr_has("cannot connect to ned");
}
