//! Socket caps (`L4.socket`, and sockets ned inherits) seen by servers
//! nobody here wrote: Python's http.server and plain Python sockets built
//! on `socket.socket(fileno=...)` from `LISTEN_FDS`. The test talks to them
//! over TCP, UDP and a Unix path at the address the boot script printed, so
//! every test binds port 0 and runs beside the others.
//!
//! The malformed `L4.socket` calls are table-driven in tests/lua/sockets.lua
//! (run by lua_scripts.rs).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sockets::{PRELUDE, python};
use crate::util::{HANG_GUARD, Out, Sandbox, ned_bin, path_str, pid_alive, wait_for};

/// Longest wait for a line the boot script prints, or for a reply.
const READY: Duration = Duration::from_secs(30);

/// A ned running in the background whose stdout the test reads line by
/// line while it runs. Dropped while ned still runs (a failed assertion),
/// it stops ned with SIGTERM, so ned's tasks go with it.
struct Live {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Live {
    fn start(cmd: &mut Command) -> Live {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ned");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Live {
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr: Some(stderr),
        }
    }

    /// The rest of the first line that starts with `prefix`.
    fn line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + READY;
        loop {
            if let Some(rest) = self.seen.iter().find_map(|l| l.strip_prefix(prefix)) {
                return rest.to_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // ned closed its stdout: it is gone, so is its stderr.
                    let stderr = self.stderr.take().and_then(|h| h.join().ok());
                    panic!(
                        "ned ended without printing {prefix:?}: {:#?}\n--- stderr\n{}",
                        self.seen,
                        stderr.unwrap_or_default()
                    )
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("ned never printed {prefix:?}; so far: {:#?}", self.seen)
                }
            }
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("ned is running").id();
        let st = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill {sig} {pid} failed");
    }

    /// Waits for ned to exit (killing it after the hang guard) and returns
    /// all it printed.
    fn finish(mut self) -> Out {
        let mut child = self.child.take().expect("ned is running");
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait ned") {
                break s;
            }
            if start.elapsed() > HANG_GUARD {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ned did not finish within {HANG_GUARD:?}: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader ends at EOF, once ned and every task sharing its
        // stdout are gone.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(10)) {
            self.seen.push(l);
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        use std::os::unix::process::ExitStatusExt;
        let stdout = self
            .seen
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>();
        Out {
            code: status.code(),
            signal: status.signal(),
            stdout_raw: stdout.clone().into_bytes(),
            stdout,
            stderr,
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        if !wait_for(Duration::from_secs(10), || {
            child.try_wait().ok().flatten().is_some()
        }) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `rom/serve.py DOCROOT N`: Python's http.server on the inherited socket
/// `web`, serving DOCROOT; N requests, then exit (0: serve until killed).
fn http_server(sb: &Sandbox) {
    let py = python();
    sb.exe(
        "serve.py",
        &format!(
            "#!{py}\n{PRELUDE}{}",
            r#"
import functools, http.server
sock = socket.socket(fileno=listen_fd("web"))
say("serving", sock.type == socket.SOCK_STREAM, sock.family == socket.AF_INET)
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
addr = sock.getsockname()
# The server must not make a socket of its own: it serves the one it got.
srv = http.server.HTTPServer(addr, handler, bind_and_activate=False)
srv.socket.close()
srv.socket = sock
srv.server_name, srv.server_port = addr
count = int(sys.argv[2])
if count == 0:
    srv.serve_forever()
for _ in range(count):
    srv.handle_request()
"#
        ),
    );
}

/// A document root with one page.
fn docroot(sb: &Sandbox, body: &str) -> String {
    let dir = sb.root.join("www");
    std::fs::create_dir_all(&dir).expect("create docroot");
    std::fs::write(dir.join("index.html"), body).expect("write page");
    path_str(&dir).to_owned()
}

/// The body of `GET path` over HTTP/1.0 from `addr`.
fn http_get(addr: &str, path: &str) -> String {
    let mut s =
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(READY)).expect("read timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").expect("send request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read response");
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    assert!(head.starts_with("HTTP/1.0 200"), "not a 200 reply:\n{resp}");
    body.to_owned()
}

/// Point 3a: the boot script binds a TCP port, Python's http.server serves
/// it; SIGTERM stops ned, which takes the server with it.
#[test]
fn http_server_on_a_tcp_socket_cap() {
    let sb = Sandbox::new();
    http_server(&sb);
    let www = docroot(&sb, "hello from a socket cap\n");
    let script = sb.file(
        "boot.lua",
        format!(
            r#"
local L4 = require("L4")
local sock = L4.socket{{ tcp = "127.0.0.1:0" }}
assert(sock:protocol() == "tcp" and sock:listening())
local t = L4.default_loader:startv({{ caps = {{ web = sock }}, log = {{ "web", "b" }} }},
  "rom/serve.py", "{www}", "0")
t:exit_handler(function(c) print("web exited", c, t:signal()) end)
print("listening " .. sock:address() .. " " .. t:pid())
"#
        ),
    );
    let mut ned = Live::start(&mut sb.command(&[path_str(&script)]));
    let line = ned.line("listening ");
    let (addr, pid) = line.split_once(' ').expect("address and pid");
    let pid: i64 = pid.parse().expect("pid");
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    assert_eq!(http_get(addr, "/index.html"), "hello from a socket cap\n");
    // A second request: the server goes on accepting on the same socket.
    assert_eq!(http_get(addr, "/index.html"), "hello from a socket cap\n");
    ned.signal("-TERM");
    let out = ned.finish();
    out.ok().no_lua_error();
    assert_eq!(
        out.log("web").first().map(String::as_str),
        Some("serving True True"),
        "{out}"
    );
    out.stdout_has("web exited\tnil\t15");
    assert!(
        wait_for(Duration::from_secs(10), || !pid_alive(pid)),
        "the server {pid} outlived ned"
    );
}

/// Point 3b: a ned started by ned inherits the listening socket, finds it
/// in `L4.Env.web` and grants it on to the server.
#[test]
fn inner_ned_serves_an_inherited_tcp_listener() {
    let sb = Sandbox::new();
    http_server(&sb);
    let www = docroot(&sb, "served by the inner ned\n");
    sb.file(
        "inner.lua",
        r#"
local L4, www = require("L4"), ...
local web = L4.Env.web
assert(web and L4.cast("Socket", web), "web is a socket cap")
print("inner got", web:protocol(), web:listening(), web:address(), web:m())
local t = L4.default_loader:startv({ caps = { web = web }, log = { "py", "b" } },
  "rom/serve.py", www, "1")
t:exit_handler(function(c) print("server exited", c) end)
"#,
    );
    let script = sb.file(
        "outer.lua",
        format!(
            r#"
local L4 = require("L4")
local sock = L4.socket{{ tcp = "127.0.0.1:0" }}
local t = L4.default_loader:startv({{ caps = {{ web = sock }}, log = {{ "inner", "m" }} }},
  "{ned}", "--wait-and-exit", "rom/inner.lua", "{www}")
t:exit_handler(function(c) print("inner exited", c) end)
print("listening " .. sock:address())
"#,
            ned = path_str(&ned_bin())
        ),
    );
    let mut ned = Live::start(&mut sb.command(&["--wait-and-exit", path_str(&script)]));
    let addr = ned.line("listening ");
    assert_eq!(http_get(&addr, "/index.html"), "served by the inner ned\n");
    let out = ned.finish();
    out.ok().no_lua_error();
    // The inner ned's own output arrives tagged `inner`; its server's
    // lines are tagged `py` by the inner ned.
    let inner = out.log("inner");
    assert!(
        inner.contains(&format!("inner got\ttcp\ttrue\t{addr}\t7")),
        "{out}"
    );
    assert!(
        inner.iter().any(|l| l.ends_with("| serving True True")),
        "{out}"
    );
    assert!(inner.contains(&"server exited\t0".to_owned()), "{out}");
    out.stdout_has("inner exited\t0");
}

/// Point 1: every kind of socket a parent hands over is adopted with its
/// protocol, listening state and address; a listening SEQPACKET socket
/// stays a channel, and a channel client (a connected SEQPACKET socket) is
/// a socket cap.
#[test]
fn inner_ned_adopts_sockets_of_every_kind() {
    let sb = Sandbox::new();
    let path = sb.root.join("s.sock");
    sb.file(
        "inner.lua",
        r#"
local L4 = require("L4")
local E = L4.Env
for _, n in ipairs({ "tcp", "udp", "ustream", "udgram", "client" }) do
  assert(L4.cast("Socket", E[n]), n .. " is a socket cap")
  print(n, E[n]:protocol(), E[n]:listening(), E[n]:address())
end
assert(tostring(E.chan):find("Ipc_gate") and E.chan.address == nil, "chan is a channel")
"#,
    );
    let script = sb.file(
        "outer.lua",
        format!(
            r#"
local L4 = require("L4")
local chan = L4.default_loader:new_channel()
local caps = {{
  tcp = L4.socket{{ tcp = "[::1]:0" }},
  udp = L4.socket{{ udp = "127.0.0.1:0" }},
  ustream = L4.socket{{ unix = "{path}" }},
  udgram = L4.socket{{ unix = "@ned-test-{pid}", type = "dgram" }},
  chan = chan:svr(), client = chan,
}}
for _, n in ipairs({{ "tcp", "udp" }}) do print("outer", n, caps[n]:address()) end
local t = L4.default_loader:startv({{ caps = caps, log = {{ "inner", "m" }} }},
  "{ned}", "--wait-and-exit", "rom/inner.lua")
print("inner exited", t:wait())
"#,
            path = path_str(&path),
            pid = std::process::id(),
            ned = path_str(&ned_bin())
        ),
    );
    let out = sb.ned(&["--wait-and-exit", path_str(&script)]);
    out.ok().no_lua_error().stdout_has("inner exited\t0");
    let outer = |n: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("outer\t{n}\t")))
            .unwrap_or_else(|| panic!("no outer {n} line:\n{out}"))
            .to_owned()
    };
    assert!(outer("tcp").starts_with("[::1]:"), "{out}");
    assert_eq!(
        out.log("inner")[..4],
        [
            format!("tcp\ttcp\ttrue\t{}", outer("tcp")),
            format!("udp\tudp\tfalse\t{}", outer("udp")),
            format!("ustream\tunix-stream\ttrue\t{}", path_str(&path)),
            format!(
                "udgram\tunix-dgram\tfalse\t@ned-test-{}",
                std::process::id()
            ),
        ],
        "{out}"
    );
    // A connected client socket's own address is its label (the rights
    // and name it was granted with; crates/ned-core/src/channel.rs), a
    // path already removed.
    let client = &out.log("inner")[4];
    assert!(
        client.starts_with("client\tunix-seqpacket\tfalse\t/")
            && client.ends_with("/ned1.4.client"),
        "{out}"
    );
}

/// Point 3c: a Python task receives a datagram the test sends to the
/// address the script printed, and answers it.
#[test]
fn udp_datagram_reaches_a_task() {
    let sb = Sandbox::new();
    let py = python();
    sb.exe(
        "udp.py",
        &format!(
            "#!{py}\n{PRELUDE}{}",
            r#"
s = socket.socket(fileno=listen_fd("dns"))
say("udp", s.type == socket.SOCK_DGRAM)
data, peer = s.recvfrom(100)
say("got", data.decode())
s.sendto(b"pong:" + data, peer)
"#
        ),
    );
    let script = sb.file(
        "boot.lua",
        r#"
local L4 = require("L4")
local sock = L4.socket{ udp = "127.0.0.1:0" }
assert(sock:protocol() == "udp" and not sock:listening())
local t = L4.default_loader:start({ caps = { dns = sock }, log = { "udp", "g" } }, "rom/udp.py")
t:exit_handler(function(c) print("udp exited", c) end)
print("bound " .. sock:address())
"#,
    );
    let mut ned = Live::start(&mut sb.command(&["--wait-and-exit", path_str(&script)]));
    let addr = ned.line("bound ");
    let me = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind test socket");
    me.set_read_timeout(Some(READY)).expect("read timeout");
    // The socket was bound before the task started: the datagram waits.
    me.send_to(b"ping", &addr).expect("send datagram");
    let mut buf = [0u8; 100];
    let (n, from) = me.recv_from(&mut buf).expect("a reply from the task");
    assert_eq!(&buf[..n], b"pong:ping");
    assert_eq!(from.to_string(), addr);
    let out = ned.finish();
    out.ok().no_lua_error();
    assert_eq!(out.log("udp"), ["udp True", "got ping"], "{out}");
    out.stdout_has("udp exited\t0");
}

/// Point 3d: a Unix path socket gets exactly the mode asked for, whatever
/// ned's umask; a task serves it. A socket file left behind by an earlier
/// run is taken over; a path a live socket holds is refused.
#[test]
fn unix_path_socket_with_mode() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let sb = Sandbox::new();
    let py = python();
    let path = sb.root.join("web.sock");
    let path = path_str(&path).to_owned();
    sb.exe(
        "unix.py",
        &format!(
            "#!{py}\n{PRELUDE}{}",
            r#"
srv = socket.socket(fileno=listen_fd("ctl"))
say("unix", srv.family == socket.AF_UNIX, srv.type == socket.SOCK_STREAM)
c, _ = srv.accept()
c.sendall(b"hello over unix")
c.close()
"#
        ),
    );
    let script = sb.file(
        "boot.lua",
        format!(
            r#"
local L4 = require("L4")
local sock = L4.socket{{ unix = "{path}", mode = "0660", backlog = 8 }}
local t = L4.default_loader:start({{ caps = {{ ctl = sock }}, log = {{ "unix", "c" }} }}, "rom/unix.py")
t:exit_handler(function(c) print("unix exited", c) end)
print("bound " .. sock:address() .. " " .. sock:protocol())
"#
        ),
    );
    // umask 077 would leave 0600; the mode must still be 0660.
    let mut cmd = Command::new("/bin/sh");
    cmd.args([
        "-c",
        "umask 077; exec \"$0\" \"$@\"",
        path_str(&ned_bin()),
        "--wait-and-exit",
        path_str(&script),
    ])
    .current_dir(&sb.root)
    .env("NO_COLOR", "1")
    .stdin(Stdio::null());
    let mut ned = Live::start(&mut cmd);
    assert_eq!(ned.line("bound "), format!("{path} unix-stream"));
    let meta = std::fs::metadata(&path).expect("socket file");
    assert!(meta.file_type().is_socket(), "{path} is not a socket");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o660);
    let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(READY)).expect("read timeout");
    let mut got = String::new();
    s.read_to_string(&mut got).expect("read");
    assert_eq!(got, "hello over unix");
    let out = ned.finish();
    out.ok().no_lua_error();
    assert_eq!(out.log("unix"), ["unix True True"], "{out}");
    out.stdout_has("unix exited\t0");

    // The file stays after ned (systemd's RemoveOnStop=no); nobody is
    // bound to it, so the next ned takes the path over.
    assert!(std::fs::metadata(&path).is_ok(), "the socket file is gone");
    let again = format!(
        "local s = require('L4').socket{{ unix = '{path}' }}\nprint('rebound ' .. s:address())\n"
    );
    sb.run_script("--exit", "again.lua", &again)
        .ok()
        .no_lua_error()
        .stdout_has(&format!("rebound {path}"));

    // A live socket on the path is refused, and left alone.
    std::fs::remove_file(&path).expect("remove socket file");
    let _live = std::os::unix::net::UnixListener::bind(&path).expect("bind live socket");
    let busy = format!(
        "local ok, e = pcall(require('L4').socket, {{ unix = '{path}' }})\nassert(not ok)\nprint(e)\n"
    );
    sb.run_script("--exit", "busy.lua", &busy)
        .ok()
        .no_lua_error()
        .stdout_has("bad argument #1 to 'L4.socket' (unix: failed to bind")
        .stdout_has("Address already in use");
    assert!(
        std::os::unix::net::UnixStream::connect(&path).is_ok(),
        "the live socket lost its path"
    );
}
