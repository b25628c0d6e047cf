//! Channels (spec §5 table) seen by a socket-activation consumer that
//! nobody here wrote: Python's `socket.socket(fileno=...)`, driven only by
//! `LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`. The server holds `svr()` (the
//! listening socket); each client gets its own connected socket at start —
//! before the server even runs, so the connection waits in the backlog, or
//! after it — and calls it with the plain cap.

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
    m = c.recv(100)
    c.send(b"echo:" + m)
    say("server got", m.decode() or "<eof>")
    c.close()
"#;

const CLIENT: &str = r#"
s = socket.socket(fileno=listen_fd("calc_server"))
say("client", sys.argv[1], "greeting", s.recv(100).decode())
s.send(b"hello from " + sys.argv[1].encode())
say("client", sys.argv[1], "reply", s.recv(100).decode())
"#;

/// Spec §5 (corrected): a client holding the plain channel cap (`r`) sends
/// requests and reads replies, exactly as one holding `rw` does — started
/// before the server (its connection waits in the backlog) or after it.
#[test]
fn python_clients_with_the_plain_cap_call_a_python_server() {
    let sb = Sandbox::new();
    let py = python();
    sb.exe("server.py", &format!("#!{py}\n{PRELUDE}{SERVER}"));
    sb.exe("client.py", &format!("#!{py}\n{PRELUDE}{CLIENT}"));
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local chan = ld:new_channel()\n\
         assert(chan:m() == L4.Rights.r, 'a new channel cap is plain r')\n\
         local function client(name, cap)\n\
           local t = ld:start({ caps = { calc_server = cap }, log = { name, 'green' } }, 'rom/client.py ' .. name)\n\
           t:exit_handler(function(c) print(name .. ' exited', c) end)\n\
         end\n\
         -- Clients first: their connections wait in the server's backlog.\n\
         client('before', chan)\n\
         client('before_rw', chan:m('rw'))\n\
         local s = ld:start({ caps = { calc_server = chan:svr() }, log = { 'server', 'blue' } }, 'rom/server.py 3')\n\
         s:exit_handler(function(c) print('server exited', c) end)\n\
         client('after', chan)\n",
    );
    out.ok().no_lua_error();
    let mut got = out.log("server");
    got.sort();
    assert_eq!(
        got,
        [
            "server got hello from after",
            "server got hello from before",
            "server got hello from before_rw",
            "server seqpacket True family unix True",
        ],
        "{out}"
    );
    for name in ["before", "before_rw", "after"] {
        assert_eq!(
            out.log(name),
            [
                format!("client {name} greeting greeting"),
                format!("client {name} reply echo:hello from {name}")
            ],
            "{out}"
        );
        out.stdout_has(&format!("{name} exited\t0"));
    }
    out.stdout_has("server exited\t0");
}
