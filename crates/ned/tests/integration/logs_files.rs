//! Per-task log files (issue 12 items 4 and 5): rotation by size with no
//! line lost or cut, a writer faster than the disk throttled rather than
//! dropped, no deleted file held open, and sinks that cannot be written —
//! a full disk (/dev/full), a closed stdout — losing lines counted and
//! reported while ned goes on serving.

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::util::{KillOnDrop, Sandbox, finish, path_str, pid_alive, wait_for};

/// The descriptors of process `pid` that name deleted files.
fn deleted_fds(pid: u32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.ends_with("(deleted)"))
        .collect()
}

/// The pids in `started pid N:` event lines of `text`.
fn started_pids(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|l| {
            l.split(" * started pid ")
                .nth(1)?
                .split(':')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// More than 1 GiB (1,100,000 lines of 1,007 bytes) from one fast writer
/// into a file rotated at 64 MiB: every line arrives, whole and in order,
/// across 17 files; no line is cut at a rotation (each file ends in a line
/// end and stays within the limit); ned never holds a deleted file; and
/// the writer, faster than the disk, is throttled on its pipe with no drop
/// reported. About 20 s with the debug build on the development VM.
#[test]
fn a_gibibyte_across_rotations_every_line_accounted_for() {
    const LINES: u64 = 1_100_000;
    const MAX: u64 = 64 << 20;
    let sb = Sandbox::new();
    let s = sb.file(
        "flood.lua",
        format!(
            "local L4 = require('L4')\n\
             L4.default_loader:startv({{ log = {{ 'f', file = 'f.log', max_size = '64M',\n\
               keep = 30, console = false }} }}, '/usr/bin/awk',\n\
               'BEGIN {{ pad = sprintf(\"%1000s\", \"\"); for (i = 0; i < {LINES}; i++) print i, pad }}')\n"
        ),
    );
    let mut ned = KillOnDrop::spawn(
        sb.command(&["--wait-and-exit", "--log-events", path_str(&s)])
            .stdout(Stdio::piped()),
    );
    let pid = ned.pid();
    let mut samples = 0;
    let ended = wait_for(Duration::from_secs(170), || {
        let held = deleted_fds(pid);
        assert!(held.is_empty(), "ned holds deleted files: {held:?}");
        samples += 1;
        std::thread::sleep(Duration::from_millis(50));
        ned.0
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some())
    });
    assert!(ended, "the flood did not end");
    let out = finish(ned.take(), Duration::from_secs(10));
    out.ok().no_lua_error();
    assert!(samples > 3, "ned was sampled {samples} times only");
    assert!(!out.stderr.contains("dropped"), "{out}");
    assert!(out.stdout.is_empty(), "console = false: {out}");
    let path = sb.root.join("f.log");
    let mut files: Vec<_> = (1..=30)
        .map(|i| sb.root.join(format!("f.log.{i}")))
        .filter(|p| p.exists())
        .collect();
    files.reverse();
    files.push(path);
    assert!(files.len() >= 16, "{} files", files.len());
    let mut next = 0u64;
    let mut events = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        assert!(
            data.len() as u64 <= MAX,
            "{}: {} bytes",
            f.display(),
            data.len()
        );
        assert_eq!(
            data.last(),
            Some(&b'\n'),
            "{} ends inside a line",
            f.display()
        );
        for line in data[..data.len() - 1].split(|&b| b == b'\n') {
            if line.starts_with(b"f * ") {
                events.push(String::from_utf8_lossy(line).into_owned());
                continue;
            }
            let rest = line.strip_prefix(b"f | ").expect("a task line");
            let digits = rest.iter().position(|&b| b == b' ').expect("number, pad");
            let n: u64 = std::str::from_utf8(&rest[..digits])
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                n,
                next,
                "line {next} lost or out of order in {}",
                f.display()
            );
            assert_eq!(rest.len() - digits, 1001, "line {n} cut");
            next += 1;
        }
    }
    assert_eq!(next, LINES);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[1].ends_with("exited with code 0"), "{events:?}");
    for p in started_pids(&events.join("\n")) {
        assert!(!pid_alive(p), "task {p} left behind");
    }
}

/// A log file deleted while its task runs is created anew at the next
/// line, and ned keeps no descriptor of the deleted one.
#[test]
fn a_deleted_log_file_is_made_again_and_not_held() {
    let sb = Sandbox::new();
    let s = sb.file(
        "del.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 'd', file = 'd.log' } }, '/bin/sh', '-c',\n\
           'echo one; while [ ! -e go ]; do sleep 0.01; done; echo two; \
            while [ ! -e end ]; do sleep 0.01; done')\n",
    );
    let mut ned = KillOnDrop::spawn(&mut sb.command(&["--wait-and-exit", path_str(&s)]));
    let log = sb.root.join("d.log");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(10), || read() == "d | one\n"),
        "{:?}",
        read()
    );
    std::fs::remove_file(&log).unwrap();
    std::fs::write(sb.root.join("go"), "").unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || read() == "d | two\n"),
        "{:?}",
        read()
    );
    assert_eq!(deleted_fds(ned.pid()), Vec::<String>::new());
    std::fs::write(sb.root.join("end"), "").unwrap();
    let out = finish(ned.take(), Duration::from_secs(20));
    out.ok().no_lua_error();
    assert_eq!(out.log("d"), ["one", "two"], "the console copy: {out}");
}

/// The sum of `ned: NAME: N lines dropped: ...` reports for `name`.
fn reported_drops(stderr: &str, name: &str) -> u64 {
    let prefix = format!("ned: {name}: ");
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix)?.split_once(" lines dropped: "))
        .map(|(n, _)| n.parse::<u64>().expect("a count"))
        .sum()
}

/// A log file whose writes fail (/dev/full: no space left) loses its lines
/// counted and reported, never silently, and blocks neither ned nor the
/// other tasks, whose lines all arrive.
#[test]
fn a_full_disk_loses_counted_lines_and_blocks_nothing() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'full', file = '/dev/full', console = false } }, '/bin/sh', '-c',\n\
           'i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done')\n\
         ld:startv({ log = { 'ok' } }, '/bin/sh', '-c',\n\
           'i=0; while [ $i -lt 5000 ]; do echo fine $i; i=$((i+1)); done')\n",
    );
    out.ok().no_lua_error();
    assert_eq!(out.log("ok").len(), 5000, "{out}");
    out.stderr_has("ned: /dev/full: failed to write (No space left on device");
    assert_eq!(reported_drops(&out.stderr, "/dev/full"), 5000, "{out}");
}

/// ned's stdout closed by its reader: task lines are dropped, counted and
/// reported on stderr; ned goes on serving (a later task's file gets its
/// line) and exits 0.
#[test]
fn a_closed_console_loses_counted_lines_and_ned_serves_on() {
    let sb = Sandbox::new();
    let s = sb.file(
        "closed.lua",
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'c' } }, '/bin/sh', '-c',\n\
           'i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done'):wait()\n\
         ld:startv({ log = { 'later', file = 'later.log', console = false } }, '/bin/echo', 'served')\n",
    );
    let mut cmd = sb.command(&["--wait-and-exit", path_str(&s)]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child: Child = cmd.spawn().expect("spawn ned");
    drop(child.stdout.take());
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut guard = KillOnDrop(Some(child));
    let mut status = None;
    assert!(
        wait_for(Duration::from_secs(30), || {
            status = guard.0.as_mut().and_then(|c| c.try_wait().ok().flatten());
            status.is_some()
        }),
        "ned did not finish"
    );
    // Reaped by try_wait already; wait() returns the same status.
    let _ = guard.take().wait();
    let stderr = reader.join().unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("ned: ned-stdout: failed to write"),
        "{stderr}"
    );
    assert_eq!(reported_drops(&stderr, "ned-stdout"), 300, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(sb.root.join("later.log")).unwrap(),
        "later | served\n"
    );
}
