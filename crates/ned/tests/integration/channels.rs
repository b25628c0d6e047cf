//! Channels are reachable only through the caps that grant them (spec §5).
//!
//! While a Python server holds `svr()` of a channel, two prowlers that were
//! granted nothing — one of ned's own uid, one running as `nobody` — read
//! every name in `/proc/net/unix`, add every entry of the directories those
//! names are in, and try to connect to each (as SEQPACKET and as STREAM).
//! Each prowler must reach a control socket the test made (so the prowling
//! works), and the server must see no connection but the granted clients',
//! one started before it and one after the prowlers.

use std::os::linux::net::SocketAddrExt;

use crate::sockets::{PRELUDE, python};
use crate::util::Sandbox;

const SERVER: &str = r#"
srv = socket.socket(fileno=listen_fd("svc"))
while True:
    c, _ = srv.accept()
    m = c.recv(100)
    say("server got", m.decode() or "<eof: an intruder>")
    try:
        c.send(b"answer to " + m)
    except OSError:
        pass
    c.close()
    if m == b"last":
        break
"#;

const CLIENT: &str = r#"
s = socket.socket(fileno=listen_fd("svc"))
s.send(sys.argv[1].encode())
say("client", sys.argv[1], "reply", s.recv(100).decode())
"#;

/// Connects to every name it can find; prints each socket it reached and
/// how many names it tried. `proc_fds` also tries ned's `/proc/<pid>/fd/N`
/// (for the other uid; ned's own uid may open them, see
/// docs/linux-mapping.md).
const PROWLER: &str = r#"
import errno
who, control = sys.argv[1], sys.argv[2]
names = set()
with open("/proc/net/unix") as f:
    next(f)
    for line in f:
        parts = line.split()
        if len(parts) >= 8:
            names.add(parts[7])
targets = set()
for n in names:
    if n.startswith("@"):
        targets.add("\0" + n[1:])
        continue
    targets.add(n)
    d = os.path.dirname(n)
    try:
        for e in os.listdir(d):
            targets.add(os.path.join(d, e))
    except OSError:
        pass
if "proc_fds" in sys.argv[3:]:
    d = "/proc/%d/fd" % os.getppid()
    try:
        targets.update(os.path.join(d, e) for e in os.listdir(d))
    except OSError as e:
        say(who, "cannot list ned's fds:", errno.errorcode[e.errno])
    for fd in range(3, 64):
        targets.add("/proc/%d/fd/%d" % (os.getppid(), fd))
ned_names = [n for n in names if "ned-%d-" % os.getppid() in n]
say(who, "sees", len(ned_names), "names of ned's channels")
reached = []
for t in sorted(targets):
    for ty in (socket.SOCK_SEQPACKET, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_UNIX, ty)
        s.settimeout(0.5)
        try:
            s.connect(t)
            reached.append(t)
        except OSError:
            pass
        finally:
            s.close()
say(who, "tried", len(targets) > 0, "control", ("\0" + control) in reached)
mine = ("ned-%d-" % os.getppid(), "nedc-%d-" % os.getppid(), "ned/%d/" % os.getppid(), "/proc/")
ours = [t for t in reached if any(m in t for m in mine)]
say(who, "reached of ned's", ours)
"#;

#[test]
fn only_granted_clients_reach_a_channel() {
    let sb = Sandbox::new();
    let py = python();
    for (name, body) in [
        ("server.py", SERVER),
        ("client.py", CLIENT),
        ("prowl.py", PROWLER),
    ] {
        sb.exe(name, &format!("#!{py}\n{PRELUDE}{body}"));
    }
    let control = format!("ned-test-control-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(&control).expect("name");
    let _control = std::os::unix::net::UnixListener::bind_addr(&addr).expect("control socket");
    // Another uid needs root to become; this machine's tests run as root.
    let root = rustix::process::geteuid().is_root();
    let other = if root {
        format!(
            "local o = ld:startv({{ log = {{ 'nobody', 'r' }} }}, '/usr/bin/setpriv', \
             '--reuid=65534', '--regid=65534', '--clear-groups', '{py}', 'rom/prowl.py', \
             'nobody', '{control}', 'proc_fds')\n\
             print('nobody prowler exited', o:wait())\n"
        )
    } else {
        String::new()
    };
    let out = sb.wait_and_exit(&format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local chan = ld:new_channel()\n\
         local function client(name)\n\
           return ld:start({{ caps = {{ svc = chan }}, log = {{ name, 'g' }} }}, 'rom/client.py ' .. name)\n\
         end\n\
         client('before')\n\
         local s = ld:start({{ caps = {{ svc = chan:svr() }}, log = {{ 'server', 'b' }} }}, 'rom/server.py')\n\
         s:exit_handler(function(c) print('server exited', c) end)\n\
         local p = ld:start({{ log = {{ 'same', 'y' }} }}, 'rom/prowl.py same {control}')\n\
         print('same-uid prowler exited', p:wait())\n\
         {other}\
         client('last')\n"
    ));
    out.ok().no_lua_error();
    assert_eq!(
        out.log("server"),
        ["server got before", "server got last"],
        "{out}"
    );
    assert_eq!(out.log("before"), ["client before reply answer to before"]);
    assert_eq!(out.log("last"), ["client last reply answer to last"]);
    let mut prowlers = vec!["same"];
    if root {
        prowlers.push("nobody");
    } else {
        eprintln!("not root: the other-uid prowler cannot run here");
    }
    for who in prowlers {
        // The other uid may not even list ned's descriptors.
        let denied = (who == "nobody").then(|| format!("{who} cannot list ned's fds: EACCES"));
        let expected: Vec<String> = denied
            .into_iter()
            .chain([
                format!("{who} sees 1 names of ned's channels"),
                format!("{who} tried True control True"),
                format!("{who} reached of ned's []"),
            ])
            .collect();
        assert_eq!(out.log(who), expected, "{out}");
        let line = if who == "same" {
            "same-uid prowler exited\t0"
        } else {
            "nobody prowler exited\t0"
        };
        out.stdout_has(line);
    }
    out.stdout_has("server exited\t0");
}

const KEPT_SERVER: &str = r#"
srv = socket.socket(fileno=listen_fd("svc"))
path = srv.getsockname()
mode = os.stat(os.path.dirname(path)).st_mode & 0o777
say("server dir mode", oct(mode), "socket file kept", os.path.exists(path))
c, _ = srv.accept()
m = c.recv(100)
c.send(b"answer to " + m)
say("server got", m.decode())
"#;

/// Where `/proc` is missing (here: a tmpfs over it in a private mount
/// namespace), the socket file stays in its 0700 directory, clients still
/// connect, and the directory is gone when ned exits.
#[test]
fn without_proc_the_socket_stays_in_a_0700_directory() {
    let unshare = std::path::Path::new("/usr/bin/unshare");
    if !rustix::process::geteuid().is_root() || !unshare.exists() {
        eprintln!("needs root and unshare(1) to hide /proc; not run here");
        return;
    }
    let sb = Sandbox::new();
    let py = python();
    sb.exe("server.py", &format!("#!{py}\n{PRELUDE}{KEPT_SERVER}"));
    sb.exe("client.py", &format!("#!{py}\n{PRELUDE}{CLIENT}"));
    let script = sb.file(
        "kept.lua",
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local chan = ld:new_channel()\n\
         ld:start({ caps = { svc = chan }, log = { 'client', 'g' } }, 'rom/client.py first')\n\
         ld:start({ caps = { svc = chan:svr() }, log = { 'server', 'b' } }, 'rom/server.py')\n",
    );
    let tmp = sb.root.join("tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir tmp");
    let mut cmd = std::process::Command::new(unshare);
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs none /proc && exec \"$0\" \"$@\"")
        .arg(crate::util::ned_bin())
        .args(["--wait-and-exit", crate::util::path_str(&script)])
        .current_dir(&sb.root)
        .env("NO_COLOR", "1")
        .env("TMPDIR", &tmp)
        .stdin(std::process::Stdio::null());
    let out = crate::util::run(&mut cmd);
    out.ok().no_lua_error();
    assert_eq!(
        out.log("server"),
        [
            "server dir mode 0o700 socket file kept True",
            "server got first"
        ],
        "{out}"
    );
    assert_eq!(out.log("client"), ["client first reply answer to first"]);
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("tmp").collect();
    assert!(left.is_empty(), "ned left {left:?} in its TMPDIR");
}
