//! The prompt's helpers and the live view (issue 10, points 5-7): the
//! helpers called from a boot script (tests/lua/prompt_helpers.lua), then
//! through `ned-prompt -e`, and `ned-prompt` driven as a person would in a
//! pseudo-terminal (tmux): commands, history, continuation lines, the live
//! view and a kill from it. Every test asserts ned's exit status and that
//! no process it started is left.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{
    HANG_GUARD, KillOnDrop, Out, Sandbox, finish, path_str, pid_alive, prompt_bin, run, wait_for,
};

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

/// The boot script of the served tests: two sleepers held in globals and
/// a task that exited 3; their pids are printed for the final check.
const SERVED: &str = "local L4 = require('L4')\n\
    local ld = L4.default_loader\n\
    web = ld:start({ log = { 'web' } }, 'rom/probe --stdout-lines 3 --sleep 60')\n\
    db = ld:start({ log = { 'db' } }, 'rom/probe --sleep 60')\n\
    once = ld:start({ log = { 'once' } }, 'rom/probe --exit 3')\n\
    for _, t in ipairs({ web, db, once }) do print('task pid', t:pid()) end\n";

/// ned serving `--control <root>/ctl` with [`SERVED`]; returns the guard
/// and the socket path once the socket answers.
fn serve(sb: &Sandbox) -> (KillOnDrop, PathBuf) {
    let sock = sb.root.join("ctl");
    sb.file("served.lua", SERVED);
    let script = sb.rom().join("served.lua");
    let ned =
        KillOnDrop::spawn(&mut sb.command(&["--control", path_str(&sock), path_str(&script)]));
    let up = wait_for(GUARD, || {
        prompt(&sock, &["-e", "return once:state()"])
            .is_some_and(|o| o.code == Some(0) && o.stdout == "zombie\n")
    });
    assert!(
        up,
        "ned did not serve {} with the script done",
        sock.display()
    );
    (ned, sock)
}

/// Runs `ned-prompt --connect sock ARGS` with a hang guard; `None` when it
/// could not connect (yet).
fn prompt(sock: &Path, args: &[&str]) -> Option<Out> {
    let mut cmd = Command::new(prompt_bin());
    cmd.arg("--connect")
        .arg(sock)
        .args(args)
        .stdin(Stdio::null());
    let out = run(&mut cmd);
    (out.code != Some(3)).then_some(out)
}

/// `ned-prompt -e CHUNK` that must succeed; its stdout.
fn ask(sock: &Path, chunk: &str) -> String {
    let out = prompt(sock, &["-e", chunk]).expect("ned is gone");
    assert_eq!(out.code, Some(0), "{chunk}: {out}");
    out.stdout
}

/// Stops ned with SIGTERM and checks it exited 0 and left no task behind.
fn stop(mut ned: KillOnDrop) -> Out {
    ned.signal("-TERM");
    let out = finish(ned.take(), HANG_GUARD);
    out.ok();
    let pids = task_pids(&out);
    assert_eq!(pids.len(), 3, "{out}");
    assert_gone(&pids);
    out
}

const GUARD: Duration = Duration::from_secs(20);

#[test]
fn helpers_through_ned_prompt_e() {
    let sb = Sandbox::new();
    let (ned, sock) = serve(&sb);
    let p = "local p = require('ned.prompt') return ";
    let ps = ask(&sock, &format!("{p} p.ps()"));
    let lines: Vec<&str> = ps.lines().collect();
    assert_eq!(lines.len(), 4, "{ps}");
    assert!(
        lines[0].starts_with("TAG") && lines[0].ends_with("EXIT"),
        "{ps}"
    );
    assert!(
        lines[1].starts_with("web ") && lines[1].contains(" running "),
        "{ps}"
    );
    assert!(
        lines[3].starts_with("once ") && lines[3].ends_with("code 3"),
        "{ps}"
    );
    let caps = ask(&sock, &format!("{p} p.caps('db')"));
    assert!(
        caps.contains(" rom ") && caps.contains("Directory"),
        "{caps}"
    );
    // The log ring fills as the loop reads; wait for web's last line.
    let tail = wait_for(GUARD, || {
        ask(&sock, &format!("{p} p.logs('web', 2)")) == "line 2\nline 3\n"
    });
    assert!(tail, "web's last lines never showed");
    // Errors come back as runtime errors, with a non-zero status.
    let out = prompt(&sock, &["-e", &format!("{p} p.kill('nobody')")]).unwrap();
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stderr.contains("kill: no running task 'nobody'"),
        "{out}"
    );
    // The plain live view: stdout is a pipe here.
    let top = prompt(&sock, &["--top"]).unwrap();
    assert_eq!(top.code, Some(0), "{top}");
    let rows: Vec<&str> = top.stdout.lines().collect();
    assert_eq!(rows.len(), 4, "{top}");
    assert!(
        rows[0].starts_with("TAG") && rows[0].contains("CPU%"),
        "{top}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("once ") && r.ends_with("code 3")),
        "{top}"
    );
    assert_eq!(ask(&sock, &format!("{p} p.kill('db', 'KILL')")), "1\n");
    let dead = wait_for(GUARD, || ask(&sock, "return db:state()") == "zombie\n");
    assert!(dead, "db was not killed");
    assert_eq!(ask(&sock, "return db:signal()"), "9\n");
    stop(ned);
}

/// A tmux server of its own (`tmux -L <name>`) with one session running a
/// command in a pseudo-terminal; killed, with what runs in it, on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `argv` (exec'd by the pane's shell, so the pane's pid is
    /// the program's) in a `cols`×`rows` terminal.
    fn start(name: &str, argv: &[&str], cols: u16, rows: u16) -> Tmux {
        let t = Tmux {
            socket: format!("ned-test-{name}-{}", std::process::id()),
        };
        let quoted: Vec<String> = argv
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let cmd = format!("exec {}", quoted.join(" "));
        let (c, r) = (cols.to_string(), rows.to_string());
        t.tmux(&["new-session", "-d", "-x", &c, "-y", &r, &cmd]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux (apt-get install tmux)");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `keys` (tmux key names: `Enter`, `Up`, `C-d`, or text).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types `text` literally, then Enter.
    fn line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "0", "-l", text]);
        self.keys(&["Enter"]);
    }

    /// Types `text` and Enter at the prompt, then waits for the next
    /// prompt (`ned>` or `>>`): what is typed while a command runs is read
    /// by the prompt's Ctrl-C watcher, as at a real terminal.
    fn enter(&self, text: &str) -> String {
        self.submit(text, || self.line(text))
    }

    /// Sends `keys` (ending in Enter), then waits for the next prompt.
    fn submit(&self, what: &str, send: impl FnOnce()) -> String {
        let prompts = |s: &str| {
            s.lines()
                .filter(|l| l.starts_with("ned>") || l.starts_with(">>"))
                .count()
        };
        let before = prompts(&self.screen());
        send();
        self.wait(&format!("the prompt after {what:?}"), |s| {
            prompts(s) > before
        })
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "0"])
    }

    /// The screen once `cond` holds for it; fails with the screen after
    /// [`GUARD`].
    fn wait(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let ok = wait_for(GUARD, || {
            last = self.screen();
            cond(&last)
        });
        assert!(ok, "never on screen: {what}\n--- screen\n{last}");
        last
    }

    fn pane_pid(&self) -> i64 {
        let pid = self.tmux(&["display-message", "-p", "-t", "0", "#{pane_pid}"]);
        pid.trim().parse().expect("a pane pid")
    }

    /// Whether the session still exists (its program has not exited).
    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", "0"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

/// The rows of the screen that start with `tag` (after the selection mark).
fn row<'a>(screen: &'a str, tag: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.trim_start_matches('>')
            .trim_start()
            .starts_with(&format!("{tag} "))
    })
}

/// A person at the prompt: a definition over continuation lines, bare
/// expressions, the history (Up), then the live view, a kill from it, and
/// Ctrl-D.
#[test]
fn a_person_at_the_prompt_in_a_terminal() {
    let sb = Sandbox::new();
    let (ned, sock) = serve(&sb);
    let history = sb.root.join("history");
    let bin = prompt_bin();
    let t = Tmux::start(
        "prompt",
        &[
            path_str(&bin),
            "--connect",
            path_str(&sock),
            "--history",
            path_str(&history),
        ],
        100,
        30,
    );
    let prompt_pid = t.pane_pid();
    // capture-pane drops trailing blanks: the prompt reads `ned>`.
    t.wait("the prompt", |s| s.contains("ned>"));
    t.enter("x = 40 + 2");
    let screen = t.enter("function twice(a)");
    assert!(
        screen.lines().any(|l| l.starts_with(">>")),
        "a continuation prompt:\n{screen}"
    );
    t.enter("return a * 2");
    t.enter("end");
    let screen = t.enter("twice(x)");
    assert!(screen.lines().any(|l| l.trim() == "84"), "{screen}");
    // Up brings back `twice(x)`; Enter runs it again.
    t.keys(&["Up"]);
    t.wait("the recalled line", |s| {
        s.lines().filter(|l| l.contains("twice(x)")).count() == 2
    });
    let screen = t.submit("the recalled line", || t.keys(&["Enter"]));
    assert_eq!(
        screen.lines().filter(|l| l.trim() == "84").count(),
        2,
        "{screen}"
    );
    // A bare expression over a helper.
    t.line("require('ned.prompt').ps()");
    t.wait("the task table", |s| {
        s.contains("TAG") && row(s, "once").is_some_and(|r| r.ends_with("code 3"))
    });

    // The live view: the header, the rows, the keys.
    t.line("top");
    let screen = t.wait("the live view", |s| {
        s.contains("ned top — 3 tasks, 2 running")
    });
    assert!(
        screen.contains("CPU%▼") && screen.contains("k kill (TERM)"),
        "{screen}"
    );
    assert!(
        row(&screen, "web").is_some_and(|r| r.contains("running")),
        "{screen}"
    );
    // Sorted by CPU, ties by pid: web is first and selected. Kill it.
    assert!(screen.lines().any(|l| l.starts_with("> web ")), "{screen}");
    // `l` opens web's log under the table.
    t.keys(&["l"]);
    t.wait("web's log", |s| {
        s.contains("log of web") && s.contains("line 3")
    });
    t.keys(&["l"]);
    t.wait("the log closed", |s| !s.contains("log of web"));
    t.keys(&["k"]);
    t.wait("the kill", |s| {
        s.contains("sent TERM to web")
            && row(s, "web").is_some_and(|r| r.contains("exited") && r.ends_with("signal 15"))
    });
    // Sort by tag (Left from CPU% ×4), ascending: db, once, web.
    t.keys(&["Left", "Left", "Left", "Left", "r"]);
    let screen = t.wait("sorted by tag", |s| s.contains("TAG▲"));
    let order: Vec<&str> = ["db", "once", "web"]
        .iter()
        .map(|tag| row(&screen, tag).expect("a row"))
        .collect();
    let at = |r: &str| screen.find(r).unwrap();
    assert!(
        at(order[0]) < at(order[1]) && at(order[1]) < at(order[2]),
        "{screen}"
    );
    t.keys(&["q"]);
    t.wait("the prompt again", |s| {
        !s.contains("ned top") && s.lines().any(|l| l.trim_end() == "ned>")
    });
    assert_eq!(ask(&sock, "return web:signal()"), "15\n");

    // Ctrl-D ends the prompt, which saved its history.
    t.keys(&["C-d"]);
    assert!(wait_for(GUARD, || !t.alive()), "the prompt did not end");
    assert!(
        !pid_alive(prompt_pid),
        "ned-prompt {prompt_pid} left behind"
    );
    let saved = std::fs::read_to_string(&history).expect("a history file");
    assert!(
        saved.contains("twice(x)") && saved.contains("top"),
        "{saved}"
    );
    stop(ned);
}

/// ned going away under an open live view ends it with a clear message and
/// status 3, and gives the terminal back.
#[test]
fn the_live_view_ends_clearly_when_ned_goes() {
    let sb = Sandbox::new();
    let (ned, sock) = serve(&sb);
    let bin = prompt_bin();
    let status = sb.root.join("status");
    let script = format!(
        "'{}' --connect '{}' --top; echo \"exit $?\" > '{}'; sleep 60",
        path_str(&bin),
        path_str(&sock),
        path_str(&status)
    );
    let t = Tmux::start("gone", &["/bin/sh", "-c", &script], 100, 20);
    t.wait("the live view", |s| s.contains("ned top — 3 tasks"));
    stop(ned);
    let screen = t.wait("the message", |s| s.contains("ned-prompt: top: "));
    assert!(
        !screen.contains("ned top —"),
        "the screen was not given back:\n{screen}"
    );
    assert!(screen.contains("ned closed the connection"), "{screen}");
    let got = wait_for(GUARD, || {
        std::fs::read_to_string(&status).is_ok_and(|s| s == "exit 3\n")
    });
    assert!(got, "ned-prompt --top did not exit 3");
}
