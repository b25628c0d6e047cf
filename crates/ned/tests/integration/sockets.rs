//! Channels (spec §5 table) seen by a socket-activation consumer that
//! nobody here wrote: Python's `socket.socket(fileno=...)`, driven only by
//! `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`. The server holds `svr()` (the
//! listening socket); each client gets its own connected socket at start —
//! before the server even runs, so the connection waits in the backlog —
//! and a client without `w` can read but its writes fail with EPIPE.

use crate::util::Sandbox;

/// An interpreter path that works with an empty environment (no PATH).
pub(crate) fn python() -> String {
    for p in ["/usr/bin/python3", "/usr/local/bin/python3"] {
        if std::path::Path::new(p).exists() {
            return p.to_owned();
        }
    }
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for the socket-activation test");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub(crate) const PRELUDE: &str = r#"
import os, socket, sys
def listen_fd(name):
    assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID is not mine"
    names = os.environ["LISTEN_FDNAMES"].split(":")
    assert len(names) == int(os.environ["LISTEN_FDS"])
    return 3 + names.index(name)
def say(*a):
    print(*a, flush=True)
"#;

const SERVER: &str = r#"
srv = socket.socket(fileno=listen_fd("calc_server"))
say("server seqpacket", srv.type == socket.SOCK_SEQPACKET, "family unix", srv.family == socket.AF_UNIX)
for i in range(int(sys.argv[1])):
    c, _ = srv.accept()
    c.send(b"greeting")
    try:
        m = c.recv(100)
    except OSError as e:
        m = b""
    if m:
        c.send(b"echo:" + m)
    say("server got", m.decode() or "<eof>")
    c.close()
"#;

const CLIENT: &str = r#"
s = socket.socket(fileno=listen_fd("calc_server"))
say("client", sys.argv[1], "greeting", s.recv(100).decode())
try:
    s.send(b"hello from " + sys.argv[1].encode())
except BrokenPipeError:
    say("client", sys.argv[1], "write EPIPE")
    sys.exit(0)
say("client", sys.argv[1], "reply", s.recv(100).decode())
"#;

#[test]
fn python_socket_activation_over_a_channel() {
    let sb = Sandbox::new();
    let py = python();
    sb.exe("server.py", &format!("#!{py}\n{PRELUDE}{SERVER}"));
    sb.exe("client.py", &format!("#!{py}\n{PRELUDE}{CLIENT}"));
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local chan = ld:new_channel()\n\
         -- Clients first: their connections wait in the server's backlog.\n\
         local c1 = ld:start({ caps = { calc_server = chan:m('rw') }, log = { 'client', 'green' } }, 'rom/client.py rw')\n\
         c1:exit_handler(function(c) print('client rw exited', c) end)\n\
         local c2 = ld:start({ caps = { calc_server = chan }, log = { 'client2', 'green' } }, 'rom/client.py ro')\n\
         c2:exit_handler(function(c) print('client ro exited', c) end)\n\
         local s = ld:start({ caps = { calc_server = chan:svr() }, log = { 'server', 'blue' } }, 'rom/server.py 2')\n\
         s:exit_handler(function(c) print('server exited', c) end)\n",
    );
    out.ok().no_lua_error();
    assert_eq!(
        out.log("server"),
        [
            "server seqpacket True family unix True",
            "server got hello from rw",
            "server got <eof>"
        ],
        "{out}"
    );
    assert_eq!(
        out.log("client"),
        [
            "client rw greeting greeting",
            "client rw reply echo:hello from rw"
        ],
        "{out}"
    );
    assert_eq!(
        out.log("client2"),
        ["client ro greeting greeting", "client ro write EPIPE"],
        "{out}"
    );
    out.stdout_has("client rw exited\t0")
        .stdout_has("client ro exited\t0")
        .stdout_has("server exited\t0");
}
