//! The log multiplexer (spec §14): `tag | line` with padded tags, no colour
//! when not a terminal or with NO_COLOR, whole lines only, the last partial
//! line flushed, bytes that are not UTF-8 passed through. And a slow or
//! stalled console (issue 7 item 4): ned's loop never blocks on its own
//! output, tasks wait on their own pipes and lose nothing, what ned itself
//! cannot emit is counted and reported.

use std::io::Read;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{HANG_GUARD, Sandbox, finish, path_str, pid_alive, run, wait_for};

#[test]
fn tag_bar_line_with_padding() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'a', 'red' } }, '/bin/sh', '-c', 'echo first; echo second >&2')\n\
         ld:startv({ log = { 'longer-tag', 'b' } }, '/bin/echo', 'hello world')\n\
         ld:startv({}, '/bin/echo', 'default tag')\n",
    );
    out.ok().no_lua_error();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"a          | first"), "{out}");
    assert!(
        lines.contains(&"a          | second"),
        "stderr is logged too: {out}"
    );
    assert!(lines.contains(&"longer-tag | hello world"), "{out}");
    assert!(
        lines.contains(&"echo       | default tag"),
        "tag defaults to the basename: {out}"
    );
}

#[test]
fn no_colour_with_no_color_or_without_a_terminal() {
    let sb = Sandbox::new();
    let s = sb.file(
        "c.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 'c', 'G' } }, '/bin/echo', 'coloured?')\n",
    );
    let with = sb.ned(&["--wait-and-exit", path_str(&s)]);
    with.ok().stdout_has("c | coloured?");
    let mut cmd = sb.command(&["--wait-and-exit", path_str(&s)]);
    cmd.env_remove("NO_COLOR");
    let without = run(&mut cmd);
    without.ok().stdout_has("c | coloured?");
    for out in [with, without] {
        assert!(
            !out.stdout_raw.contains(&0x1b),
            "escape codes in a pipe: {out}"
        );
    }
}

#[test]
fn long_lines_from_many_tasks_never_interleave() {
    let sb = Sandbox::new();
    // Four writers, 500 lines of 10,000 bytes each (more than PIPE_BUF, so
    // each line arrives in pieces), all at once.
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         for _, c in ipairs({ 'A', 'B', 'C', 'D' }) do\n\
           ld:startv({ log = { c } }, '/bin/sh', '-c',\n\
             'i=0; l=$(printf \"%10000s\" \"\" | tr \" \" ' .. c .. '); while [ $i -lt 500 ]; do echo \"$l\"; i=$((i+1)); done')\n\
         end\n",
    );
    out.ok().no_lua_error();
    for c in ['A', 'B', 'C', 'D'] {
        let lines = out.log(&c.to_string());
        assert_eq!(lines.len(), 500, "{c}: {} lines", lines.len());
        for l in &lines {
            assert!(
                l.len() == 10_000 && l.chars().all(|x| x == c),
                "{c}: a mixed or cut line of {} bytes: {}...",
                l.len(),
                &l[..l.len().min(80)]
            );
        }
    }
    for l in out.stdout.lines() {
        assert!(
            l.contains(" | "),
            "a line without a tag: {}",
            &l[..l.len().min(80)]
        );
    }
}

#[test]
fn last_partial_line_is_flushed_and_binary_passes_through() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'partial' } }, '/bin/sh', '-c', 'printf \"full\\\\nno newline\"')\n\
         ld:startv({ log = { 'bin' } }, '/bin/sh', '-c', 'printf \"\\\\377\\\\376 raw \\\\001\\\\n\"')\n",
    );
    out.ok().no_lua_error();
    assert_eq!(out.log("partial"), ["full", "no newline"], "{out}");
    let needle = b"bin     | \xff\xfe raw \x01\n";
    assert!(
        out.stdout_raw.windows(needle.len()).any(|w| w == needle),
        "non-UTF-8 bytes changed: {:?}",
        String::from_utf8_lossy(&out.stdout_raw)
    );
}

/// A ned whose output the test reads late or never. If the test fails
/// first, ned and the tasks whose pids the script marked are killed, so a
/// frozen ned leaves nothing behind.
struct Unread<'a> {
    child: Option<Child>,
    sb: &'a Sandbox,
    pid_marks: &'static [&'static str],
}

impl<'a> Unread<'a> {
    /// `ned args` with stdout (and stderr) pipes nobody reads yet.
    fn spawn(sb: &'a Sandbox, args: &[&str], pid_marks: &'static [&'static str]) -> Self {
        let child = sb
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ned");
        Unread {
            child: Some(child),
            sb,
            pid_marks,
        }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("ned still held")
    }

    fn sigterm(&mut self) {
        let pid = self.child().id().to_string();
        let st = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill failed");
    }

    /// ned's exit status, if it exits within `guard`.
    fn wait(&mut self, guard: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < guard {
            if let Some(s) = self.child().try_wait().expect("wait ned") {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Hands ned over to a caller that collects it (util::finish).
    fn take(mut self) -> Child {
        self.child.take().expect("ned still held")
    }
}

impl Drop for Unread<'_> {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = child.kill();
        let _ = child.wait();
        for name in self.pid_marks {
            if let Some(pid) = mark(self.sb, name) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid.trim()])
                    .status();
            }
        }
    }
}

/// Lua: `mark(name, value)` writes `value` to the file `name` in ned's
/// working directory (the sandbox root), for the test to see at once.
const MARK: &str = "local function mark(name, v)\n\
                      local f = assert(io.open(name, 'w')) f:write(tostring(v)) f:close()\n\
                    end\n";

fn mark(sb: &Sandbox, name: &str) -> Option<String> {
    std::fs::read_to_string(sb.root.join(name)).ok()
}

/// Reads `from` to its end, `chunk` bytes at a time with `pause` between
/// reads, into a buffer the test can watch.
fn reader(
    mut from: impl Read + Send + 'static,
    chunk: usize,
    pause: Duration,
) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    let t = std::thread::spawn(move || {
        let mut buf = vec![0; chunk];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => sink.lock().unwrap().extend_from_slice(&buf[..n]),
            }
            std::thread::sleep(pause);
        }
    });
    (got, t)
}

fn text(b: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&b.lock().unwrap()).into_owned()
}

/// The grace period tasks get at shutdown (lua_l4::GRACE) plus the time
/// ned gives its console at exit (ned_core::console::EXIT_FLUSH).
const GRACE_AND_FLUSH: Duration = Duration::from_secs(3 + 1);

/// A terminal that stopped reading (stdout and stderr one pipe nobody
/// reads) while a task writes forever: ned still reaps, runs handlers
/// (which also write to the stalled stderr), and SIGTERM ends it in time.
#[test]
fn a_console_that_never_reads_cannot_freeze_ned() {
    let sb = Sandbox::new();
    let s = sb.file(
        "stall.lua",
        format!(
            "{MARK}local L4 = require('L4')\n\
             local ld = L4.default_loader\n\
             local chatty = ld:startv({{ log = {{ 'chatty' }} }}, '/usr/bin/yes', 'chatty')\n\
             mark('chatty.pid', chatty:pid())\n\
             chatty:exit_handler(function(c) mark('chatty.exit', tostring(c) .. ' ' .. tostring(chatty:signal())) end)\n\
             local quick = ld:startv({{ log = {{ 'quick' }} }}, '/bin/sh', '-c', 'sleep 0.3; echo bye')\n\
             quick:exit_handler(function(c)\n\
               mark('quick.exit', c)\n\
               print('quick exited', c)\n\
               error('a diagnostic for the stalled stderr')\n\
             end)\n"
        ),
    );
    let (console_rd, console_wr) = std::io::pipe().expect("pipe");
    let mut cmd = sb.command(&[path_str(&s)]);
    cmd.stdout(console_wr.try_clone().expect("dup pipe"))
        .stderr(console_wr);
    let child = cmd.spawn().expect("spawn ned");
    drop(cmd);
    let mut ned = Unread {
        child: Some(child),
        sb: &sb,
        pid_marks: &["chatty.pid"],
    };
    assert!(
        wait_for(Duration::from_secs(20), || mark(&sb, "quick.exit")
            .is_some()),
        "with its console full, ned stopped handling exits"
    );
    assert_eq!(mark(&sb, "quick.exit").as_deref(), Some("0"));
    let chatty: i64 = mark(&sb, "chatty.pid")
        .and_then(|p| p.parse().ok())
        .expect("chatty's pid");
    assert!(pid_alive(chatty), "chatty waits on its full pipe, alive");
    let sent = Instant::now();
    ned.sigterm();
    let status = ned.wait(GRACE_AND_FLUSH + Duration::from_secs(6));
    let took = sent.elapsed();
    let status = status.expect("ned ignored SIGTERM while its console was stalled");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(
        took < GRACE_AND_FLUSH + Duration::from_secs(4),
        "ned took {took:?} to exit"
    );
    assert_eq!(mark(&sb, "chatty.exit").as_deref(), Some("nil 15"));
    assert!(
        wait_for(Duration::from_secs(10), || !pid_alive(chatty)),
        "chatty outlived ned"
    );
    drop(console_rd);
}

/// A console that reads 1 KiB every 2 ms and a task writing 100,000
/// numbered lines: the task waits on its pipe instead of ned dropping
/// anything, so every line arrives exactly once, whole and in order.
#[test]
fn a_slow_console_gets_every_line_once_in_order() {
    let sb = Sandbox::new();
    let s = sb.file(
        "slow.lua",
        "local L4 = require('L4')\n\
         local t = L4.default_loader:start({ log = { 'n' } }, 'rom/probe --stdout-lines 100000')\n\
         t:exit_handler(function(c) print('n exited', c) end)\n",
    );
    let mut ned = Unread::spawn(&sb, &[path_str(&s)], &[]);
    let (out, out_t) = reader(
        ned.child().stdout.take().expect("stdout"),
        1024,
        Duration::from_millis(2),
    );
    let (err, err_t) = reader(
        ned.child().stderr.take().expect("stderr"),
        4096,
        Duration::ZERO,
    );
    // Serving: ned stays until told, so its exit bound plays no part.
    assert!(
        wait_for(HANG_GUARD, || text(&out).contains("n exited\t0\n")),
        "the task never finished: {} bytes arrived",
        out.lock().unwrap().len()
    );
    ned.sigterm();
    let status = ned
        .wait(HANG_GUARD)
        .expect("ned did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    out_t.join().unwrap();
    err_t.join().unwrap();
    let (out, err) = (text(&out), text(&err));
    assert!(
        !out.contains("dropped") && !err.contains("dropped"),
        "{err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    let logged: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("n | "))
        .collect();
    assert_eq!(
        logged.len(),
        100_001,
        "the probe's report and 100,000 lines"
    );
    assert!(logged[0].starts_with('{'), "{}", logged[0]);
    for (i, l) in logged[1..].iter().enumerate() {
        assert_eq!(*l, format!("line {}", i + 1), "line lost, repeated or cut");
    }
    assert_eq!(lines.last(), Some(&"n exited\t0"), "the handler ran last");
}

/// A console that stalls while the script prints more than ned can hold,
/// then drains: the kept lines arrive in order, then the report of the
/// dropped ones with their exact count.
#[test]
fn a_stalled_then_draining_console_reports_what_was_dropped() {
    let sb = Sandbox::new();
    let total = 20_000;
    let s = sb.file(
        "drops.lua",
        format!(
            "{MARK}for i = 1, {total} do print(('p'):rep(100), i) end\n\
             mark('printed', 1)\n"
        ),
    );
    let mut ned = Unread::spawn(&sb, &[path_str(&s)], &[]);
    assert!(
        wait_for(Duration::from_secs(30), || mark(&sb, "printed").is_some()),
        "print blocked on the stalled console"
    );
    let (out, out_t) = reader(
        ned.child().stdout.take().expect("stdout"),
        64 * 1024,
        Duration::ZERO,
    );
    let (err, err_t) = reader(
        ned.child().stderr.take().expect("stderr"),
        4096,
        Duration::ZERO,
    );
    assert!(
        wait_for(Duration::from_secs(30), || text(&out)
            .contains("console too slow\n")),
        "no drop report once the console drained"
    );
    ned.sigterm();
    let status = ned
        .wait(HANG_GUARD)
        .expect("ned did not exit after SIGTERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    out_t.join().unwrap();
    err_t.join().unwrap();
    let out = text(&out);
    let lines: Vec<&str> = out.lines().collect();
    let kept = lines.len() - 1;
    let p = "p".repeat(100);
    for (i, l) in lines[..kept].iter().enumerate() {
        assert_eq!(
            *l,
            format!("{p}\t{}", i + 1),
            "kept lines: a prefix, in order"
        );
    }
    assert!(kept > 0 && kept < total, "kept {kept} of {total}");
    assert_eq!(
        lines[kept],
        format!("ned: {} lines dropped: console too slow", total - kept)
    );
    let err = text(&err);
    assert!(!err.contains("dropped at exit"), "{err}");
}

/// One task writes a million lines into a console that does not read yet:
/// that task waits on its pipe, while 20 small tasks log, end and have
/// their handlers run. Once the console reads, nothing is missing and the
/// small tasks came first.
#[test]
fn a_task_writing_megabytes_does_not_block_others() {
    let sb = Sandbox::new();
    let s = sb.file(
        "big.lua",
        format!(
            "{MARK}local L4 = require('L4')\n\
             local ld = L4.default_loader\n\
             local big = ld:start({{ log = {{ 'big' }} }}, 'rom/probe --stdout-lines 1000000')\n\
             mark('big.pid', big:pid())\n\
             big:exit_handler(function(c) mark('big.exit', c) print('big exited', c) end)\n\
             for i = 1, 20 do\n\
               local t = ld:startv({{ log = {{ 'small' .. i }} }}, '/bin/echo', 'small ' .. i)\n\
               t:exit_handler(function(c) mark('small' .. i .. '.exit', c) print('small exited', i, c) end)\n\
             end\n"
        ),
    );
    let ned = Unread::spawn(&sb, &["--wait-and-exit", path_str(&s)], &["big.pid"]);
    let smalls_done = || (1..=20).all(|i| mark(&sb, &format!("small{i}.exit")).is_some());
    assert!(
        wait_for(Duration::from_secs(30), smalls_done),
        "the small tasks' exits waited for the big one"
    );
    assert_eq!(
        mark(&sb, "big.exit"),
        None,
        "the big task ended with nobody reading: lines were dropped"
    );
    let out = finish(ned.take(), HANG_GUARD);
    out.ok().no_lua_error();
    assert!(!out.stderr.contains("dropped"), "{out}");
    let big = out.log("big");
    assert_eq!(big.len(), 1_000_001);
    for (i, l) in big[1..].iter().enumerate() {
        assert_eq!(*l, format!("line {}", i + 1));
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("stdout lacks {line:?}"))
    };
    // Tags are padded to the longest, `small20`.
    let big_end = at("big     | line 1000000");
    assert!(
        at("big exited\t0") > big_end,
        "the handler after the last line"
    );
    for i in 1..=20 {
        assert_eq!(out.log(&format!("small{i}")), [format!("small {i}")]);
        let handled = at(&format!("small exited\t{i}\t0"));
        assert!(
            handled < big_end,
            "small {i}'s handler waited for the big task"
        );
    }
}

/// On a terminal the tag is coloured with its colour (blue = SGR 34);
/// `NO_COLOR` turns that off. script(1), from util-linux (essential in
/// Debian), runs ned on a pseudo-terminal.
#[test]
fn colour_on_a_terminal_unless_no_color() {
    let sb = Sandbox::new();
    let s = sb.file(
        "colour.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 'tag', 'blue' } }, '/bin/echo', 'hi')\n",
    );
    let cmdline = format!(
        "{} --wait-and-exit {}",
        path_str(&crate::util::ned_bin()),
        path_str(&s)
    );
    let on_tty = |no_color: bool| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &cmdline, "/dev/null"])
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.output().expect("script(1) from util-linux is needed");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(
        coloured.contains("\x1b[34mtag\x1b[0m | hi"),
        "no blue tag on a terminal: {coloured:?}"
    );
    let plain = on_tty(true);
    assert!(plain.contains("tag | hi"), "{plain:?}");
    assert!(
        !plain.contains('\x1b'),
        "colour despite NO_COLOR: {plain:?}"
    );
}

/// Issue 12 item 1: a task's stdout and stderr are two streams. By default
/// both print as upstream does (`tag | line`); `--log-streams` marks stderr
/// lines `tag ! line`. Lines of one stream keep their order.
#[test]
fn stdout_and_stderr_are_told_apart_in_order() {
    let sb = Sandbox::new();
    let src = "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 't' } }, '/bin/sh', '-c',\n\
           'i=0; while [ $i -lt 2000 ]; do echo o$i; echo e$i >&2; i=$((i+1)); done')\n";
    let plain = sb.wait_and_exit(src);
    plain.ok().no_lua_error();
    assert_eq!(plain.log("t").len(), 4000, "{plain}");
    assert!(!plain.stdout.contains(" ! "), "{plain}");
    let s = sb.file("streams.lua", src);
    let marked = sb.ned(&["--wait-and-exit", "--log-streams", path_str(&s)]);
    marked.ok().no_lua_error();
    let (mut outs, mut errs) = (Vec::new(), Vec::new());
    for l in marked.stdout.lines() {
        if let Some(o) = l.strip_prefix("t | ") {
            outs.push(o.to_owned());
        } else if let Some(e) = l.strip_prefix("t ! ") {
            errs.push(e.to_owned());
        } else {
            panic!("unexpected line {l:?}");
        }
    }
    let want = |p: &str| (0..2000).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    assert_eq!(outs, want("o"));
    assert_eq!(errs, want("e"));
}

/// The `pid` of every `started` event in `recs`, and that none is alive.
fn assert_started_gone(recs: &[serde_json::Value]) -> usize {
    let pids: Vec<i64> = recs
        .iter()
        .filter(|r| r["event"] == "started")
        .map(|r| r["pid"].as_i64().expect("a pid"))
        .collect();
    for &p in &pids {
        assert!(!pid_alive(p), "task {p} left behind");
    }
    pids.len()
}

/// Issue 12 items 3 and 6: `--log-format json` prints nothing but JSON
/// objects on stdout — task lines (non-UTF-8 ones as `line_b64`), the
/// script's `print`, ned's events — and its diagnostics on stderr as JSON
/// too. Every line is parsed with serde_json.
#[test]
fn json_mode_prints_only_json_and_keeps_every_byte() {
    let sb = Sandbox::new();
    let s = sb.file(
        "json.lua",
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'web', 'g' } }, '/bin/sh', '-c',\n\
           'echo say \\\\\"hi\\\\\"; printf \"\\\\377\\\\376\\\\n\"; echo oops >&2; exit 3')\n\
         ld:startv({ log = { 'k' } }, '/bin/sh', '-c', 'kill -9 $$')\n\
         print('from print')\n\
         L4.sleep(0.3)\n\
         error('boom')\n",
    );
    let out = sb.ned(&["--wait-and-exit", "--log-format", "json", path_str(&s)]);
    out.status(1);
    let parse = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
            .collect()
    };
    let recs = parse(&out.stdout);
    let errs = parse(&out.stderr);
    let find = |f: &dyn Fn(&serde_json::Value) -> bool| {
        recs.iter()
            .find(|r| f(r))
            .unwrap_or_else(|| panic!("no such record in\n{out}"))
            .clone()
    };
    let hi = find(&|r| r["line"] == "say \"hi\"");
    assert_eq!(
        (hi["tag"].as_str(), hi["stream"].as_str()),
        (Some("web"), Some("stdout"))
    );
    assert!(
        hi["time"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z'))
    );
    let web = hi["pid"].as_i64().unwrap();
    let bin = find(&|r| r.get("line_b64").is_some());
    assert_eq!(bin["line_b64"], "//4=", "bytes \\377\\376, losslessly");
    assert_eq!(find(&|r| r["line"] == "oops")["stream"], "stderr");
    assert_eq!(find(&|r| r["tag"] == "print")["line"], "from print");
    let started = find(&|r| r["event"] == "started" && r["tag"] == "web");
    assert_eq!(started["pid"].as_i64(), Some(web));
    assert_eq!(started["argv"][0], "/bin/sh");
    let exited = find(&|r| r["event"] == "exited" && r["tag"] == "web");
    assert_eq!(exited["code"], 3);
    assert_eq!(find(&|r| r["event"] == "killed")["signal"], 9);
    assert_eq!(assert_started_gone(&recs), 2);
    assert!(
        errs.iter().any(|r| r["tag"] == "ned"
            && r["line"]
                .as_str()
                .is_some_and(|l| l.contains("lua error") && l.contains("boom"))),
        "{out}"
    );
}

/// Issue 12 items 2 and 6: `--log-time` (utc or mono) and `time = ...` per
/// task prefix each line with the time it was read; off by default.
/// `--log-events` prints ned's events in text mode, as `tag * ...`.
#[test]
fn times_and_events_on_request_only() {
    let sb = Sandbox::new();
    let s = sb.file(
        "time.lua",
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'a' } }, '/bin/echo', 'x')\n\
         ld:startv({ log = { 'b', time = 'mono' } }, '/bin/echo', 'y')\n",
    );
    let plain = sb.ned(&["--wait-and-exit", path_str(&s)]);
    plain.ok();
    let mut got: Vec<&str> = plain.stdout.lines().collect();
    got.sort();
    let b = got.iter().find(|l| l.ends_with("b | y")).expect("b's line");
    let (mono, rest) = b.split_once(' ').unwrap();
    assert!(mono.parse::<f64>().is_ok() && rest == "b | y", "{b}");
    assert!(got.contains(&"a | x"), "no time by default: {plain}");
    assert!(
        !plain.stdout.contains(" * "),
        "no events by default: {plain}"
    );

    let timed = sb.ned(&[
        "--wait-and-exit",
        "--log-time",
        "--log-events",
        path_str(&s),
    ]);
    timed.ok();
    let a: Vec<&str> = timed.stdout.lines().filter(|l| l.contains(" a ")).collect();
    assert_eq!(a.len(), 3, "started, the line, exited: {timed}");
    for l in &a {
        let (t, _) = l.split_once(' ').unwrap();
        assert!(
            t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T',
            "{l}"
        );
    }
    assert!(
        a[0].contains(" a * started pid ") && a[0].ends_with(": /bin/echo x"),
        "{}",
        a[0]
    );
    assert!(a[1].ends_with(" a | x"), "{}", a[1]);
    assert!(a[2].ends_with(" a * exited with code 0"), "{}", a[2]);
    for l in timed.stdout.lines().filter(|l| l.contains(" started pid ")) {
        let pid: i64 = l
            .split(" started pid ")
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(!pid_alive(pid), "task {pid} left behind");
    }
}

/// Issue 12 item 7: on a terminal, control characters and escape sequences
/// other than colour are shown escaped; `--log-raw` passes them through.
/// script(1) runs ned on a pseudo-terminal.
#[test]
fn a_task_cannot_drive_the_terminal_unless_raw() {
    let sb = Sandbox::new();
    let s = sb.file(
        "tty.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 't' } }, '/bin/printf',\n\
           'A\\\\033[31mred\\\\033[0m\\\\033]0;title\\\\007\\\\033[2JB\\\\n')\n",
    );
    let on_tty = |raw: bool| {
        let cmdline = format!(
            "{} --wait-and-exit {}{}",
            path_str(&crate::util::ned_bin()),
            if raw { "--log-raw " } else { "" },
            path_str(&s)
        );
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &cmdline, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        let out = run(&mut cmd);
        out.ok();
        out.stdout
    };
    let safe = on_tty(false);
    assert!(
        safe.contains("t | A\x1b[31mred\x1b[0m\\x1b]0;title\\x07\\x1b[2JB"),
        "{safe:?}"
    );
    let raw = on_tty(true);
    assert!(
        raw.contains("t | A\x1b[31mred\x1b[0m\x1b]0;title\x07\x1b[2JB"),
        "{raw:?}"
    );
    // Not a terminal: the bytes pass (upstream's output).
    let piped = sb.ned(&["--wait-and-exit", path_str(&s)]);
    piped.ok();
    assert!(
        piped.stdout_raw.windows(5).any(|w| w == b"\x1b]0;t"),
        "{piped}"
    );
}

/// Issue 12, bad input: nonsense log options are errors of `start`, and
/// nothing is started (the marker file the task would create is absent).
#[test]
fn bad_log_options_are_lua_errors_and_nothing_starts() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.root.join("adir")).unwrap();
    let cases = [
        ("file = 'x.log', max_size = '-1M'", "must not be negative"),
        ("file = 'x.log', max_size = -5", "must not be negative"),
        ("file = 'x.log', max_size = '10Q'", "is not a size"),
        ("file = 'x.log', max_size = 0", "more than 0"),
        ("file = 'missing/x.log'", "No such file or directory"),
        ("file = 'adir'", "is a directory"),
        ("file = 'x.log', keep = -1", "keep must be"),
        ("max_size = '1M'", "need a log file"),
        ("console = false", "needs a log file"),
        ("file = 'x.log', time = 'soon'", "log time must be"),
        ("fiel = 'x.log'", "unknown log option 'fiel'"),
        ("file = 42", "log file must be a string"),
    ];
    for (opts, msg) in cases {
        let src = format!(
            "local L4 = require('L4')\n\
             L4.default_loader:startv({{ log = {{ 'w', {opts} }} }}, '/bin/touch', 'started')\n"
        );
        let out = sb.wait_and_exit(&src);
        out.status(1)
            .stderr_has("bad argument #1 to 'startv'")
            .stderr_has(msg);
        assert!(
            !sb.root.join("started").exists(),
            "{opts}: a task was started"
        );
        assert!(
            !sb.root.join("x.log").exists(),
            "{opts}: a log file was made"
        );
    }
}
