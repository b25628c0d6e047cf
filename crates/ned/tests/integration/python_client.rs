//! The Python client (clients/python/ned_client.py, standard library only)
//! speaks the object protocol as the Rust one does: a task queries a
//! namespace, creates a dataspace and receives its memfd, and a Python
//! driver serves a channel to which the boot script's `create` is
//! forwarded, reading each client's label.

use std::path::Path;

use crate::sockets::python;
use crate::util::{Sandbox, pid_alive};

const CLIENT: &str = r#"
import os, sys
import ned_client as ned
caps = ned.Caps.from_env()
print("caps", caps.names(), flush=True)
ns = caps.object("ns")
print("type", ns.type()[:2], flush=True)
got = ns.query("cfg")
print("query cfg", got.kind == ned.Kind.DATASPACE, os.fstat(got.fd).st_size, flush=True)
try:
    ns.query("missing", wait_ms=0)
except ned.Error as e:
    print("missing", e.status, flush=True)
mem = caps.object("mem")
ds = mem.create(ned.Proto.DATASPACE, 12288)
os.pwrite(ds.fd, b"hello", 0)
print("created", ds.kind == ned.Kind.DATASPACE, os.fstat(ds.fd).st_size, flush=True)
ns.register("made", ds.fd, ds.kind, ned.Rights.RW)
print("names", ns.names(), flush=True)
try:
    caps.object("ro").register("x", ds.fd)
except ned.Error as e:
    print("register without w", e.status, flush=True)
"#;

const DRIVER: &str = r#"
import os, sys
import ned_client as ned
caps = ned.Caps.from_env()
done = []
def create(peer, proto, args, fds):
    for fd in fds:
        os.close(fd)
    print("create from", peer.labelled, hex(peer.rights), repr(peer.name), proto, args, flush=True)
    if proto != ned.Proto.DATASPACE or not args or not isinstance(args[0], int):
        raise ned.Error(-22, "driver: only dataspaces, with a size")
    fd = os.memfd_create("session")
    os.ftruncate(fd, args[0])
    done.append(1)
    return ned.Made(fd, ned.Kind.DATASPACE, ned.Rights.RW)
print("serving", flush=True)
ned.serve(caps.take("svr"), create, until=lambda: len(done) == 2)
print("done", flush=True)
"#;

#[test]
fn a_python_task_queries_creates_and_serves_a_channel() {
    let sb = Sandbox::new();
    let py = python();
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/python/ned_client.py");
    std::fs::copy(&lib, sb.rom().join("ned_client.py")).expect("copy ned_client.py");
    sb.exe("client.py", &format!("#!{py}\n{CLIENT}"));
    sb.exe("driver.py", &format!("#!{py}\n{DRIVER}"));
    let out = sb.run_script(
        "--exit",
        "t.lua",
        r#"
local L4 = require("L4")
local L = L4.default_loader
local ns = L4.Env.factory:create(L4.Proto.Namespace)
ns:register("cfg", L4.Env.mem_alloc:create(L4.Proto.Dataspace, 8192))
local t = L:start({ caps = { ns = ns:m("rw"), mem = L4.Env.mem_alloc, ro = ns }, log = { "client" } },
  "rom/client.py")
print("pid " .. t:pid())
print("client exit", t:wait())
print("made " .. tostring(ns:query("made")()):match("^L4::Cap<%a+>"))
local ch = L:new_channel()
local d = L:start({ caps = { svr = ch:svr() }, log = { "driver" } }, "rom/driver.py")
print("pid " .. d:pid())
local s = ch:create(L4.Proto.Dataspace, 4096)
print("session " .. tostring(s):match("^L4::Cap<%a+>"))
local ok, err = pcall(ch.create, ch, L4.Proto.Log, "x")
print("refused", err.msg, err.code)
local s2 = ch:m("rw"):create(L4.Proto.Dataspace, 100)
print("driver exit", d:wait())
"#,
    );
    out.ok().no_lua_error();
    assert_eq!(
        out.log("client"),
        [
            "caps ['mem', 'ns', 'ro', 'rom']",
            "type ('Namespace', 5)",
            "query cfg True 8192",
            "missing -2",
            "created True 12288",
            "names ['cfg', 'made']",
            "register without w -1",
        ],
        "{out}"
    );
    assert_eq!(
        out.log("driver"),
        [
            "serving",
            "create from True 0x4 '' 16384 [4096]",
            "create from True 0x4 '' -13 [b'x']",
            "create from True 0x5 '' 16384 [100]",
            "done",
        ],
        "{out}"
    );
    out.stdout_has("client exit\t0")
        .stdout_has("made L4::Cap<Dataspace>")
        .stdout_has("session L4::Cap<Dataspace>")
        .stdout_has("refused\tdriver: only dataspaces, with a size\t-22")
        .stdout_has("driver exit\t0");
    for pid in out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("pid "))
        .map(|p| p.trim().parse::<i64>().expect("pid"))
    {
        assert!(!pid_alive(pid), "task {pid} left behind:\n{out}");
    }
}
