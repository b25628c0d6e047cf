//! Rights are enforced, not recorded (spec §5's table; docs/rights.md):
//! for each object kind a task with and a task without the right try the
//! thing, and report the errno of every attempt as one JSON line.
//!
//! The trying task is Python (`TRY`). When the tests run as root, the
//! tasks run as `nobody` through setpriv(1), because root may reopen any
//! memfd read-write; docs/rights.md says what closes that for root tasks.

use serde_json::Value;

use crate::sockets::{PRELUDE, python};
use crate::util::Sandbox;

/// `try.py KIND CAP`: tries everything the right guards on the fd named
/// CAP and prints `{"op": ..., "result": "ok" | "<ERRNO>"}` per attempt.
const TRY: &str = r#"
import errno, json, mmap
kind, name = sys.argv[1], sys.argv[2]
fd = listen_fd(name)
def attempt(op, f):
    try:
        f()
        r = "ok"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    say(json.dumps({"op": op, "result": r}))
if kind == "dataspace":
    attempt("read", lambda: os.pread(fd, 1, 0))
    attempt("write", lambda: os.pwrite(fd, b"x", 0))
    attempt("ftruncate", lambda: os.ftruncate(fd, 8192))
    attempt("mmap_write", lambda: mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE).close())
    attempt("mmap_read", lambda: mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ).close())
    attempt("reopen_rw", lambda: os.close(os.open("/proc/self/fd/%d" % fd, os.O_RDWR)))
elif kind == "file":
    attempt("read", lambda: os.pread(fd, 1, 0))
    attempt("write", lambda: os.pwrite(fd, b"x", 0))
elif kind == "channel":
    s = socket.socket(fileno=fd)
    s.setblocking(False)
    # A listener with no client waiting says EAGAIN; a connection, EINVAL.
    attempt("accept", lambda: s.accept())
"#;

/// The attempts one task reported: `(op, result)` in order.
fn attempts(out: &crate::util::Out, tag: &str) -> Vec<(String, String)> {
    out.log(tag)
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}"));
            (
                v["op"].as_str().expect("op").to_owned(),
                v["result"].as_str().expect("result").to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The command that starts `try.py` in a start table's program string:
/// as `nobody` when the test is root.
fn trier(py: &str) -> String {
    if rustix::process::geteuid().is_root() {
        format!("/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups {py} rom/try.py")
    } else {
        format!("{py} rom/try.py")
    }
}

#[test]
fn a_dataspace_without_w_cannot_be_written_truncated_mapped_writable_or_reopened() {
    let sb = Sandbox::new();
    let py = python();
    sb.exe("try.py", &format!("#!{py}\n{PRELUDE}{TRY}"));
    let t = trier(&py);
    let out = sb.wait_and_exit(&format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local ds = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)\n\
         -- The writer first: its read-write fd stays writable after a\n\
         -- read-only grant of the same dataspace.\n\
         ld:start({{ log = {{ 'rw' }}, caps = {{ ds = ds:m('rw') }} }}, '{t} dataspace ds'):wait()\n\
         ld:start({{ log = {{ 'r' }}, caps = {{ ds = ds }} }}, '{t} dataspace ds'):wait()\n\
         ld:start({{ log = {{ 'rw2' }}, caps = {{ ds = ds:m('rw') }} }}, '{t} dataspace ds'):wait()\n"
    ));
    out.ok().no_lua_error();
    assert_eq!(
        attempts(&out, "r"),
        pairs(&[
            ("read", "ok"),
            ("write", "EBADF"),
            ("ftruncate", "EINVAL"),
            ("mmap_write", "EACCES"),
            ("mmap_read", "ok"),
            ("reopen_rw", "EACCES"),
        ]),
        "{out}"
    );
    let with_w = pairs(&[
        ("read", "ok"),
        ("write", "ok"),
        ("ftruncate", "ok"),
        ("mmap_write", "ok"),
        ("mmap_read", "ok"),
        ("reopen_rw", "ok"),
    ]);
    assert_eq!(attempts(&out, "rw"), with_w, "{out}");
    // After the read-only grant the mode is 0444: a writer keeps its fd
    // but may no longer reopen it read-write (docs/rights.md).
    let mut later = with_w.clone();
    later[5].1 = "EACCES".into();
    assert_eq!(attempts(&out, "rw2"), later, "{out}");
}

/// The server reads each connection's label (its peer name) and the
/// connection's SO_PEERCRED pid, then the first message, which must be
/// exactly what the client sent: the label adds no byte.
pub(crate) const LABEL_SERVER: &str = r#"
import struct
srv = socket.socket(fileno=listen_fd("svc"))
for i in range(int(sys.argv[1])):
    c, _ = srv.accept()
    peer = c.getpeername()
    last = peer.rsplit("/", 1)[-1] if peer else ""
    pid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
    m = c.recv(100).decode()
    if last.startswith("ned1."):
        _, rights, name = last.split(".", 2)
        r = int(rights, 16)
        say("server", m, "label", name, "w", bool(r & 1), "s", bool(r & 2), "made by ned", pid == os.getppid())
    else:
        say("server", m, "no label")
    c.send(b"ok")
    c.close()
"#;

/// A client: sends its argument, then tries to forge — to connect to the
/// channel a second time by the address its connection reports, and to
/// bind a socket in the directory its own label was in.
pub(crate) const LABEL_CLIENT: &str = r#"
import errno
s = socket.socket(fileno=listen_fd(sys.argv[2]))
s.send(sys.argv[1].encode())
assert s.recv(10) == b"ok"
own = s.getsockname()
def attempt(what, f):
    try:
        f()
        say(what, "ok")
    except OSError as e:
        say(what, errno.errorcode.get(e.errno, str(e.errno)))
def reconnect():
    t = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    t.connect(s.getpeername())
def bind_beside():
    t = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    t.bind(os.path.join(os.path.dirname(own), "ned1.3f.forged"))
attempt("reconnect", reconnect)
attempt("bind beside own label", bind_beside)
"#;

#[test]
fn a_server_learns_each_clients_rights_and_no_client_can_forge_them() {
    let sb = Sandbox::new();
    let py = python();
    sb.exe("server.py", &format!("#!{py}\n{PRELUDE}{LABEL_SERVER}"));
    sb.exe("client.py", &format!("#!{py}\n{PRELUDE}{LABEL_CLIENT}"));
    sb.exe("try.py", &format!("#!{py}\n{PRELUDE}{TRY}"));
    let out = sb.wait_and_exit(&format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local chan = ld:new_channel()\n\
         local function client(tag, name, cap)\n\
           ld:start({{ log = {{ tag }}, caps = {{ [name] = cap }} }}, 'rom/client.py ' .. tag .. ' ' .. name)\n\
         end\n\
         client('plain', 'svc', chan)\n\
         client('writer', 'fs.main', chan:m('rw'))\n\
         client('passer', 'fd-passer', chan:m('rws'))\n\
         local s = ld:start({{ log = {{ 'server' }}, caps = {{ svc = chan:svr() }} }}, 'rom/server.py 3')\n\
         s:wait()\n\
         -- c: the listener for the holder of svr(), a connection otherwise.\n\
         ld:start({{ log = {{ 'svr' }}, caps = {{ ch = chan:svr() }} }}, '{py} rom/try.py channel ch'):wait()\n\
         ld:start({{ log = {{ 'cli' }}, caps = {{ ch = chan }} }}, '{py} rom/try.py channel ch'):wait()\n"
    ));
    out.ok().no_lua_error();
    let mut got = out.log("server");
    got.sort();
    assert_eq!(
        got,
        [
            "server passer label fd-passer w True s True made by ned True",
            "server plain label svc w False s False made by ned True",
            "server writer label fs.main w True s False made by ned True",
        ],
        "{out}"
    );
    for tag in ["plain", "writer", "passer"] {
        assert_eq!(
            out.log(tag),
            ["reconnect ENOENT", "bind beside own label ENOENT"],
            "{out}"
        );
    }
    assert_eq!(
        attempts(&out, "svr"),
        pairs(&[("accept", "EAGAIN")]),
        "{out}"
    );
    assert_eq!(
        attempts(&out, "cli"),
        pairs(&[("accept", "EINVAL")]),
        "{out}"
    );
}

/// Namespaces and factories are served by ned: the grant's rights decide
/// what the connection may do (`ned-objtool` prints `ok ...` or `err
/// <status> ...` per command).
#[test]
fn namespace_w_and_d_and_factory_s_decide_what_a_task_may_do() {
    let sb = Sandbox::new();
    let tool = crate::util::sibling_bin("ned-objtool");
    std::fs::copy(&tool, sb.rom().join("ned-objtool"))
        .expect("copy ned-objtool (cargo build --bins)");
    let out = sb.run_script(
        "--exit",
        "t.lua",
        r#"
local L4 = require("L4")
local L = L4.default_loader
local ns = L4.Env.factory:create(L4.Proto.Namespace)
ns:register("a", L4.Env.factory)
ns:register("b", L4.Env.factory)
local function try(tag, caps, cmds)
  L:start({ caps = caps, log = { tag } }, "rom/ned-objtool " .. cmds):wait()
end
try("ns_r", { ns = ns, fab = L4.Env.factory }, "register:ns:x:fab unlink:ns:a")
try("ns_w", { ns = ns:m("rw"), fab = L4.Env.factory }, "register:ns:x:fab unlink:ns:a")
try("ns_d", { ns = ns:m("rd") }, "unlink:ns:a")
try("ns_s", { ns = ns:m("rs") }, "query:ns:b:7 type:b")
try("ns_nos", { ns = ns }, "query:ns:b:7 type:b")
try("fab_rw", { fab = L4.Env.factory:m("rw") }, "create:fab:d:0x4000:64")
try("fab_s", { fab = L4.Env.factory:m("rs") }, "create:fab:d:0x4000:64")
print("names", table.concat(ns:names(), ","))
"#,
    );
    out.ok().no_lua_error();
    let first = |tag: &str| -> Vec<String> {
        out.log(tag)
            .iter()
            .map(|l| l.split(':').next().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(first("ns_r"), ["err -1 register", "err -1 unlink"], "{out}");
    assert_eq!(first("ns_w"), ["ok ", "err -1 unlink"], "{out}");
    assert_eq!(first("ns_d"), ["ok "], "{out}");
    // A query through a namespace cap with `s` may hand out `s`.
    assert_eq!(
        out.log("ns_s"),
        ["ok Factory rights=0x7", "ok Factory rights=0x7 [Nil]"],
        "{out}"
    );
    assert_eq!(out.log("ns_nos")[0], "ok Factory rights=0x5", "{out}");
    assert_eq!(first("fab_rw"), ["err -1 create"], "{out}");
    assert!(out.log("fab_s")[0].starts_with("ok Dataspace"), "{out}");
    out.stdout_has("names\tb,x");
}

/// A directory's files are handed out read-only (`rom:query(name)`), and
/// writable only with `w`; the task runs as ned's uid so that only the
/// rights, not the file's mode, decide.
#[test]
fn a_file_from_a_directory_is_read_only_without_w() {
    let sb = Sandbox::new();
    let py = python();
    sb.exe("try.py", &format!("#!{py}\n{PRELUDE}{TRY}"));
    sb.file("data", "some data\n");
    let out = sb.wait_and_exit(&format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:start({{ log = {{ 'r' }}, caps = {{ f = L4.Env.rom:query('data')() }} }}, '{py} rom/try.py file f'):wait()\n\
         ld:start({{ log = {{ 'rw' }}, caps = {{ f = L4.Env.rom:query('data', 'rw')() }} }}, '{py} rom/try.py file f'):wait()\n"
    ));
    out.ok().no_lua_error();
    assert_eq!(
        attempts(&out, "r"),
        pairs(&[("read", "ok"), ("write", "EBADF")]),
        "{out}"
    );
    assert_eq!(
        attempts(&out, "rw"),
        pairs(&[("read", "ok"), ("write", "ok")]),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(sb.rom().join("data")).expect("data"),
        "xome data\n"
    );
}

/// A semaphore or irq without `w` cannot be enforced by Linux (no
/// read-only eventfd): ned says so once, on stderr, instead of ignoring
/// the right silently; with `w` it says nothing.
#[test]
fn a_semaphore_without_w_is_granted_with_a_warning_once() {
    let sb = Sandbox::new();
    let with_w = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local s = L4.Env.factory:create(L4.Proto.Semaphore)\n\
         L4.default_loader:start({ caps = { sem = s:m('rw') } }, 'rom/probe'):wait()\n",
    );
    with_w.ok().no_lua_error();
    assert!(!with_w.stderr.contains("warning"), "{with_w}");
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local s = L4.Env.factory:create(L4.Proto.Semaphore)\n\
         local i = L4.Env.factory:create(L4.Proto.Irq_sender)\n\
         L4.default_loader:start({ caps = { sem = s } }, 'rom/probe'):wait()\n\
         L4.default_loader:start({ caps = { irq = i } }, 'rom/probe'):wait()\n",
    );
    out.ok().no_lua_error();
    assert_eq!(
        out.stderr
            .matches("without 'w', but Linux cannot make an eventfd read-only")
            .count(),
        1,
        "{out}"
    );
    out.stderr_has("Semaphore cap 'sem'");
}
