//! The remote command interface (spec §13, docs/prompt.md): replies of the
//! protocol, `ned --control` (permissions, peer uid, stale and live
//! sockets), `L4.server_loop` with upstream's snippet, `ned-prompt`'s exit
//! statuses, and bad input — garbage, a 100 MiB chunk, endless loops,
//! silent, vanishing and many clients — after which ned still serves and
//! stops cleanly, leaving neither process nor socket behind.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use crate::util::*;

/// A ned serving `--control` on `sandbox/c.sock` (plus `extra` options)
/// with `script` as its boot script.
struct Served {
    ned: KillOnDrop,
    sock: PathBuf,
}

fn serve(sb: &Sandbox, extra: &[&str], script: &str) -> Served {
    let sock = sb.root.join("c.sock");
    let s = sb.file("boot.lua", script);
    let mut args = vec!["--control", path_str(&sock)];
    args.extend_from_slice(extra);
    args.push(path_str(&s));
    let ned = KillOnDrop::spawn(&mut sb.command(&args));
    // Until ned answers there (a stale file may already be in its place,
    // and the file exists a moment before ned listens).
    let answers = || {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socket");
        SocketAddrUnix::new(&sock).is_ok_and(|a| rustix::net::connect(&fd, &a).is_ok())
    };
    assert!(
        wait_for(HANG_GUARD, answers),
        "ned does not answer at {}",
        sock.display()
    );
    Served { ned, sock }
}

impl Served {
    /// SIGTERM; ned must exit 0 and remove its socket.
    fn stop(mut self) -> Out {
        self.ned.signal("-TERM");
        let out = finish(self.ned.take(), HANG_GUARD);
        out.ok();
        assert!(!self.sock.exists(), "control socket left behind:\n{out}");
        out
    }
}

#[track_caller]
fn connect(path: &Path) -> OwnedFd {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    rustix::net::connect(&fd, &SocketAddrUnix::new(path).expect("addr")).expect("connect to ned");
    fd
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(payload);
    f
}

fn send(fd: &OwnedFd, bytes: &[u8]) {
    for piece in bytes.chunks(64 << 10) {
        rustix::net::send(fd, piece, SendFlags::NOSIGNAL).expect("send to ned");
    }
}

/// Reads one reply frame; `None` when ned closed the connection first.
fn reply(fd: &OwnedFd) -> Option<(i32, String)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        if got.len() >= 5 {
            let len = u32::from_le_bytes(got[1..5].try_into().unwrap()) as usize;
            if got.len() >= 5 + len {
                assert_eq!(got[0], b'R', "not a reply frame");
                let status = i32::from_le_bytes(got[5..9].try_into().unwrap());
                return Some((
                    status,
                    String::from_utf8_lossy(&got[9..5 + len]).into_owned(),
                ));
            }
        }
        match rustix::net::recv(fd, &mut buf, RecvFlags::empty()) {
            Ok((0, _)) | Err(_) => return None,
            Ok((n, _)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn call(fd: &OwnedFd, chunk: &str) -> (i32, String) {
    send(fd, &frame(b'Q', chunk.as_bytes()));
    reply(fd).expect("ned closed the connection")
}

#[test]
fn replies_are_those_of_spec_13() {
    let sb = Sandbox::new();
    let ned = serve(&sb, &[], "answer = 42\n");
    let c = connect(&ned.sock);
    assert_eq!(call(&c, "return answer"), (0, "42".into()));
    assert_eq!(
        call(&c, "return 1, nil, 'x', true"),
        (0, "1\tnil\tx\ttrue".into())
    );
    assert_eq!(call(&c, "y = answer + 1"), (0, String::new()));
    assert_eq!(call(&c, "return y"), (0, "43".into()));
    let (st, msg) = call(&c, "return = 1");
    assert_eq!(st, -22);
    assert!(msg.starts_with("[string \"argument\"]:1:"), "{msg}");
    assert_eq!(
        call(&c, "error('boom')"),
        (-5, "[string \"argument\"]:1: boom".into())
    );
    assert_eq!(
        call(&c, "error({msg = 'no way', code = -2})"),
        (-5, "no way (code -2)".into())
    );
    let (st, long) = call(&c, "return string.rep('ab', 1 << 20)");
    assert_eq!(st, 0);
    assert!(long.starts_with("abab"));
    assert!(
        long.ends_with("[... reply truncated: 2097152 bytes in all]"),
        "{}",
        &long[long.len() - 60..]
    );
    assert_eq!(
        long.len(),
        (1 << 20) + "\n[... reply truncated: 2097152 bytes in all]".len()
    );
    drop(c);
    ned.stop();
}

#[test]
fn bad_input_leaves_ned_serving_others() {
    let sb = Sandbox::new();
    let ned = serve(&sb, &["--command-budget", "20000000"], "n = 0\n");
    let silent = connect(&ned.sock);
    let good = connect(&ned.sock);

    // Garbage: an error reply, then the connection is closed.
    let junk = connect(&ned.sock);
    send(&junk, b"\x00\xffgarbage\x01\x02\x03 not a frame");
    let (st, msg) = reply(&junk).expect("an error reply");
    assert_eq!(st, -71, "{msg}");
    assert!(
        reply(&junk).is_none(),
        "connection still open after garbage"
    );
    assert_eq!(call(&good, "return 1"), (0, "1".into()));

    // 100 MiB chunk: refused with -7, and the same connection goes on.
    let big = connect(&ned.sock);
    let mut chunk = b"return #'".to_vec();
    chunk.resize(100 << 20, b'x');
    chunk.push(b'\'');
    send(&big, &frame(b'Q', &chunk));
    drop(chunk);
    let (st, msg) = reply(&big).expect("a reply to the big chunk");
    assert_eq!(st, -7, "{msg}");
    assert!(msg.contains("larger than the limit"), "{msg}");
    assert_eq!(call(&big, "return 'after'"), (0, "after".into()));

    // An endless loop is stopped by the budget (and pcall cannot keep it).
    let (st, msg) = call(
        &good,
        "while true do pcall(function() while true do end end) end",
    );
    assert_eq!(st, -5);
    assert!(msg.contains("budget"), "{msg}");

    // A client that disconnects with a long reply on its way.
    let gone = connect(&ned.sock);
    send(&gone, &frame(b'Q', b"return string.rep('z', 900000)"));
    drop(gone);

    // 100 clients at once, each with its own request in flight.
    let many: Vec<OwnedFd> = (0..100).map(|_| connect(&ned.sock)).collect();
    for (i, c) in many.iter().enumerate() {
        send(c, &frame(b'Q', format!("n = n + 1; return {i}").as_bytes()));
    }
    for (i, c) in many.iter().enumerate() {
        assert_eq!(reply(c), Some((0, i.to_string())));
    }
    assert_eq!(call(&good, "return n"), (0, "100".into()));
    drop(silent);
    drop(many);
    let out = ned.stop();
    assert!(!out.stderr.contains("panicked"), "{out}");
}

#[test]
fn cancel_or_disconnect_stops_a_running_command() {
    let sb = Sandbox::new();
    let ned = serve(&sb, &["--command-budget", "0"], "");
    let c = connect(&ned.sock);
    send(&c, &frame(b'Q', b"spinning = true; while true do end"));
    let other = connect(&ned.sock);
    // The loop runs (ned answers nobody meanwhile); cancel it.
    send(&c, &frame(b'C', b""));
    let (st, msg) = reply(&c).expect("reply after cancel");
    assert_eq!(
        (st, msg.as_str()),
        (-5, "command interrupted by its client")
    );
    assert_eq!(call(&other, "return spinning"), (0, "true".into()));

    let quitter = connect(&ned.sock);
    send(&quitter, &frame(b'Q', b"while true do end"));
    drop(quitter);
    assert_eq!(
        call(&other, "return 'still here'"),
        (0, "still here".into())
    );
    ned.stop();
}

#[test]
fn commands_wait_while_the_script_sleeps() {
    let sb = Sandbox::new();
    let ned = serve(
        &sb,
        &[],
        "local L4 = require('L4')\nslept = false\nL4.sleep(1)\nslept = true\n",
    );
    let c = connect(&ned.sock);
    assert_eq!(call(&c, "return slept"), (0, "true".into()));
    let out = ned.stop();
    out.stdout_has("Ned: Sleeping 1s");
}

#[test]
fn control_socket_is_private_and_checks_the_peer_uid() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let ned = serve(&sb, &[], "");
    let mode = std::fs::metadata(&ned.sock)
        .expect("stat socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        rustix::process::geteuid().is_root(),
        "this test runs as root (it switches to uid 65534)"
    );
    // Let uid 65534 reach the socket, so that only ned's own check is left.
    for p in [&sb.root, &ned.sock] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let refused = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(prompt_bin())
        .args(["--connect", path_str(&ned.sock), "-e", "return 1"])
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("ned closed the connection"),
        "{refused:?}"
    );
    let ok = Command::new(prompt_bin())
        .args([
            "--connect",
            path_str(&ned.sock),
            "-e",
            "return 'root is in'",
        ])
        .output()
        .expect("run ned-prompt");
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "root is in\n");
    let out = ned.stop();
    out.stderr_has("ned: control: refused a client of uid 65534");
}

#[test]
fn stale_socket_is_replaced_and_a_live_one_kept() {
    let sb = Sandbox::new();
    let sock = sb.root.join("c.sock");
    // A dead server's socket file: nobody listens on it. (Bound, never
    // listening: a listener closed here could live on for a moment in a
    // child another test is forking.)
    let dead = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socket");
    rustix::net::bind(&dead, &SocketAddrUnix::new(&sock).expect("addr")).expect("bind");
    drop(dead);
    assert!(sock.exists());
    let ned = serve(&sb, &[], "who = 'first'\n");
    let c = connect(&ned.sock);
    assert_eq!(call(&c, "return who"), (0, "first".into()));

    let s = sb.file("second.lua", "who = 'second'\n");
    let second = sb.ned(&["--control", path_str(&sock), path_str(&s)]);
    second
        .status(2)
        .stderr_has("another ned is serving this socket");
    assert_eq!(call(&c, "return who"), (0, "first".into()));
    drop(c);
    ned.stop();

    // Not a socket: never removed.
    std::fs::write(&sock, "precious").expect("write");
    let third = sb.ned(&["--control", path_str(&sock), path_str(&s)]);
    third.status(2).stderr_has("is not a socket");
    assert_eq!(std::fs::read_to_string(&sock).expect("read"), "precious");

    let nowhere = sb.root.join("missing/c.sock");
    let fourth = sb.ned(&["--control", path_str(&nowhere), path_str(&s)]);
    fourth
        .status(2)
        .stderr_has("failed to create the control socket");
}

#[test]
fn upstream_snippet_with_the_prompt_fed_from_a_pipe() {
    let sb = Sandbox::new();
    std::fs::copy(prompt_bin(), sb.rom().join("ned-prompt")).expect("copy ned-prompt");
    let s = sb.file(
        "boot.lua",
        "local L4 = require(\"L4\"); local l = L4.default_loader\n\
         greeting = 'hello from ned'\n\
         cmd = l:new_channel()\n\
         prompt = l:start({ log = L4.Env.log, caps = { svr = cmd } }, \"rom/ned-prompt\")\n\
         L4.server_loop(cmd)\n",
    );
    let mut cmd = sb.command(&[path_str(&s)]);
    cmd.stdin(Stdio::piped());
    let mut ned = KillOnDrop::spawn(&mut cmd);
    let input = "greeting\nprint('printed by ' .. 'ned')\nfor i = 1, 3 do\n  sum = (sum or 0) + i\nend\nsum\n\
                 print('pid=' .. prompt:pid())\nerror('oops')\nos.exit(7)\n";
    {
        use std::io::Write;
        let mut stdin = ned.0.as_mut().and_then(|c| c.stdin.take()).expect("stdin");
        stdin.write_all(input.as_bytes()).expect("feed the prompt");
    }
    let out = finish(ned.take(), HANG_GUARD);
    out.status(7)
        .stdout_has("hello from ned\n")
        .stdout_has("printed by ned\n")
        .stdout_has("\n6\n")
        .stderr_has("Error calling ned: -5: [string \"argument\"]:1: oops");
    // The prompt was ned's task: ned's end ended it.
    let pid: i64 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid=")?.parse().ok())
        .unwrap_or_else(|| panic!("no pid printed:\n{out}"));
    assert!(!pid_alive(pid), "ned-prompt {pid} outlived ned");
}

#[test]
fn one_shot_exit_statuses() {
    let sb = Sandbox::new();
    let mut ned = serve(&sb, &[], "");
    let sock_path = ned.sock.clone();
    let run = |args: &[&str]| {
        Command::new(prompt_bin())
            .args(args)
            .env_remove("NED_CONTROL")
            .stdin(Stdio::null())
            .output()
            .expect("run ned-prompt")
    };
    let sock = path_str(&sock_path);
    let ok = run(&["--connect", sock, "-e", "x = 20", "-e", "x * 2 + 2"]);
    assert_eq!(
        (
            ok.status.code(),
            String::from_utf8_lossy(&ok.stdout).as_ref()
        ),
        (Some(0), "42\n")
    );
    let failed = run(&[
        "--connect",
        sock,
        "-e",
        "error('no')",
        "-e",
        "return 'after'",
    ]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&failed.stdout), "after\n");
    let syntax = run(&["--connect", sock, "-e", "if true then"]);
    assert_eq!(syntax.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&syntax.stderr).contains("Error calling ned: -22:"),
        "{syntax:?}"
    );
    let nil = run(&["--connect", sock, "-e", "nil"]);
    assert_eq!((nil.status.code(), nil.stdout.len()), (Some(0), 0));
    let env = Command::new(prompt_bin())
        .args(["-e", "return 'by env'"])
        .env("NED_CONTROL", sock)
        .output()
        .expect("run ned-prompt");
    assert_eq!(String::from_utf8_lossy(&env.stdout), "by env\n");
    let nowhere = run(&["-e", "return 1"]);
    assert_eq!(nowhere.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&nowhere.stderr).contains("no ned to talk to"),
        "{nowhere:?}"
    );
    let usage = run(&["--bogus"]);
    assert_eq!(usage.status.code(), Some(2));
    let exit = run(&["--connect", sock, "-e", "os.exit(9)"]);
    assert_ne!(exit.status.code(), Some(0));
    let out = finish(ned.ned.take(), HANG_GUARD);
    out.status(9);
    assert!(!ned.sock.exists(), "control socket left behind");
    let gone = run(&["--connect", sock, "-e", "return 1"]);
    assert_eq!(gone.status.code(), Some(3));
}

#[test]
fn server_loop_refuses_what_is_no_channel() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit("local L4 = require('L4')\nL4.server_loop(L4.Env.rom)\n");
    out.status(1).stderr_has(
        "test.lua:2: bad argument #1 to 'server_loop' (channel expected, got Directory)",
    );
}

/// Drives `ned-prompt` in a pseudo-terminal (python3's `pty`): each step
/// writes its keys, then waits (bounded) until the screen shows its text.
const PTY_DRIVER: &str = r#"
import os, pty, select, sys, time
prompt, sock, hist = sys.argv[1:4]
steps = [s.split("=>", 1) for s in sys.argv[4:]]
pid, fd = pty.fork()
if pid == 0:
    os.execv(prompt, [prompt, "--connect", sock, "--history", hist])
seen = b""
def expect(text):
    global seen
    end = time.time() + 30
    while text.encode() not in seen:
        if time.time() > end:
            sys.exit("timed out waiting for %r; screen: %r" % (text, seen))
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                sys.exit("prompt gone; screen: %r" % seen)
    seen = seen[seen.index(text.encode()) + len(text):]
expect("ned> ")
for keys, text in steps:
    os.write(fd, keys.encode().decode("unicode_escape").encode())
    expect(text)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[test]
fn ctrl_c_at_the_prompt_interrupts_a_running_command() {
    let sb = Sandbox::new();
    let ned = serve(&sb, &["--command-budget", "0"], "base = 40\n");
    let hist = sb.root.join("history");
    let out = Command::new("python3")
        .arg("-c")
        .arg(PTY_DRIVER)
        .arg(prompt_bin())
        .arg(&ned.sock)
        .arg(&hist)
        .args([
            // Leaving the line editor turns bracketed paste off: the
            // command is on its way, so Ctrl-C is the prompt's to read.
            "while true do end\\r=>\x1b[?2004l",
            "\\x03=>command interrupted by its client",
            "for i = 1, 2 do\\r=>>> ",
            "base = base + i\\r=>>> ",
            "end\\r=>ned> ",
            // Tab asks ned for the globals that start so.
            "bas\\t=>base",
            "\\r=>43",
            "\\x04=>",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pty session failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let history = std::fs::read_to_string(&hist).expect("history file");
    assert!(history.contains("while true do end"), "{history}");
    assert!(
        history.contains("for i = 1, 2 do\\nbase = base + i\\nend"),
        "{history}"
    );
    ned.stop();
}

#[test]
fn control_socket_serves_beside_server_loop() {
    let sb = Sandbox::new();
    let ned = serve(
        &sb,
        &[],
        "local L4 = require('L4')\ncmd = L4.default_loader:new_channel()\n\
         where = 'in server_loop'\nL4.server_loop(cmd)\n",
    );
    let c = connect(&ned.sock);
    assert_eq!(call(&c, "return where"), (0, "in server_loop".into()));
    drop(c);
    ned.stop().no_lua_error();
}

#[test]
fn a_client_that_never_reads_is_dropped() {
    let sb = Sandbox::new();
    let ned = serve(&sb, &[], "");
    let hog = connect(&ned.sock);
    let other = connect(&ned.sock);
    // Six replies of 1 MiB, none read: more than ned keeps for a client.
    for _ in 0..6 {
        send(&hog, &frame(b'Q', b"return string.rep('x', 1 << 20)"));
    }
    // Dropped: ned closed its end (seen without reading, which would
    // make room for more replies).
    let hung_up = || {
        let mut fds = [rustix::event::PollFd::new(
            &hog,
            rustix::event::PollFlags::RDHUP,
        )];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&zero)).is_ok()
            && fds[0]
                .revents()
                .intersects(rustix::event::PollFlags::RDHUP | rustix::event::PollFlags::HUP)
    };
    assert!(
        wait_for(HANG_GUARD, hung_up),
        "the client that never reads was not dropped"
    );
    assert!(drain_to_end(&hog), "open after the drop");
    assert_eq!(call(&other, "return 'fine'"), (0, "fine".into()));
    ned.stop()
        .stderr_has("ned: control: dropped a client: it does not read its replies");
}

/// Reads `fd` to its end; false when it is still open after what it holds.
fn drain_to_end(fd: &OwnedFd) -> bool {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match rustix::net::recv(fd, &mut buf, RecvFlags::DONTWAIT) {
            // A close with our requests still unread in ned's queue is a reset.
            Ok((0, _)) | Err(rustix::io::Errno::CONNRESET) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

/// Tab inside a string completes the tags of ned's tasks, so
/// `require("ned.prompt").kill("sle<Tab>` finds the task (issue 10, 4).
#[test]
fn tab_inside_a_string_completes_task_names() {
    let sb = Sandbox::new();
    let ned = serve(
        &sb,
        &[],
        "local ld = require('L4').default_loader\n\
         sleeper = ld:start({ log = { 'sleeper' } }, '/bin/sleep 100')\n\
         ld:start({ log = { 'web' } }, '/bin/sleep 100')\n",
    );
    let pid = {
        let out = Command::new(prompt_bin())
            .args(["--connect", path_str(&ned.sock), "-e", "sleeper:pid()"])
            .output()
            .expect("run ned-prompt");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<i64>()
            .expect("a pid")
    };
    let hist = sb.root.join("history");
    let out = Command::new("python3")
        .arg("-c")
        .arg(PTY_DRIVER)
        .arg(prompt_bin())
        .arg(&ned.sock)
        .arg(&hist)
        .args([
            "p = require('ned.prompt')\\r=>ned> ",
            "p.logs('sl\\t=>sleeper",
            "', 1)\\r=>ned> ",
            "p.kill(\"w\\t=>web",
            "\")\\r=>ned> ",
            "\\x04=>",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "pty session failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pid_alive(pid), "sleeper was not the one killed");
    ned.stop();
    assert!(!pid_alive(pid), "sleeper left behind");
}
