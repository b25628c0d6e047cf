//! The sandbox (issue 13, docs/sandbox.md), proven from inside: a
//! probe started with `sandbox = { "strict", system = true }` (ned-probe
//! is dynamically linked) tries what a task must not do, and the same
//! script without the sandbox shows each attempt would otherwise work, so
//! no assertion here holds for a sandbox that does nothing. Busybox
//! (Debian's busybox-static) is the static program for plain `"strict"`.
//! Every test checks ned's exit status and that no process of the test is
//! left running.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{Out, Sandbox, finish, ned_bin, path_str, probe_bin};

/// The pids of live processes whose executable lies under `dir`.
fn running_under(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let e = e.ok()?;
            let exe = std::fs::read_link(e.path().join("exe")).ok()?;
            exe.starts_with(dir)
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

fn assert_nothing_left(sb: &Sandbox) {
    let left = running_under(&sb.root);
    assert!(left.is_empty(), "processes left running: {left:?}");
}

/// `try ACTION: RESULT` lines of the probe tagged `tag`, as a lookup.
fn tries(out: &Out, tag: &str) -> std::collections::BTreeMap<String, String> {
    out.log(tag)
        .iter()
        .filter_map(|l| l.strip_prefix("try "))
        .filter_map(|l| l.split_once(": "))
        .map(|(a, r)| (a.to_owned(), r.to_owned()))
        .collect()
}

/// The probe script: a channel it is not granted (held by a server task),
/// a read-only and a writable directory cap, a read-only dataspace and a
/// UDP socket; `SANDBOX` is replaced by the sandbox value.
const PROBE_SCRIPT: &str = r#"
local L4 = require("L4")
local ld = L4.default_loader
local tcp, udp = ...
local ch = ld:new_channel()
local srv = ld:startv({ caps = { srv = ch:svr() }, log = { "srv" } }, "rom/probe", "--sleep", "30")
local ds = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)
local ned = io.open("/proc/self/stat"):read("n")
-- fds: data 3, ds 4, out 5, rom 6, udp 7
local t = ld:startv({
  log = { "p" },
  sandbox = SANDBOX,
  caps = { data = L4.Env.data, out = L4.Env.out, ds = ds:m("r"),
           udp = L4.socket{ udp = "127.0.0.1:0" } },
}, "rom/probe",
  "--try", "read=/etc/passwd", "--try", "ls=/proc",
  "--try", "read=DATA/f", "--try", "write=DATA/new", "--try", "write=OUT/new",
  "--try", "writefd=4", "--try", "reopen=4", "--try", "chmodreopen=4",
  "--try", "tcp=" .. tcp, "--try", "udp=7," .. udp,
  "--try", "procfds=" .. ned, "--try", "kill=" .. ned,
  "--try", "syscall=ptrace", "--try", "syscall=mount", "--try", "syscall=kexec",
  "--try", "nnp")
print("probe exited with " .. tostring(t:wait()))
srv:kill()
srv:wait()
"#;

/// Runs [`PROBE_SCRIPT`] with `sandbox` and returns the probe's attempts.
fn probe_run(sandbox: &str) -> (std::collections::BTreeMap<String, String>, Out) {
    let sb = Sandbox::new();
    let data = sb.root.join("data");
    let outd = sb.root.join("out");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&outd).unwrap();
    std::fs::write(data.join("f"), "secret").unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let script = PROBE_SCRIPT
        .replace("SANDBOX", sandbox)
        .replace("DATA", path_str(&data))
        .replace("OUT", path_str(&outd));
    let s = sb.file("probe.lua", script);
    let out = sb.ned(&[
        "--wait-and-exit",
        "--cap",
        &format!("data={}:r", path_str(&data)),
        "--cap",
        &format!("out={}:rw", path_str(&outd)),
        path_str(&s),
        &tcp.local_addr().unwrap().to_string(),
        &udp.local_addr().unwrap().to_string(),
    ]);
    out.ok().no_lua_error().stdout_has("probe exited with 0");
    let mut tries = tries(&out, "p");
    let mut buf = [0u8; 16];
    let got = udp.recv(&mut buf).map(|n| buf[..n].to_vec()).ok();
    tries.insert("udp received".into(), format!("{got:?}"));
    assert_nothing_left(&sb);
    (tries, out)
}

#[test]
fn strict_leaves_a_task_only_its_caps() {
    let (t, out) = probe_run(r#"{ "strict", system = true }"#);
    let get = |k: &str| {
        t.get(k)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no {k}:\n{out}"))
    };
    let get_prefix = |p: &str| {
        t.iter()
            .find(|(k, _)| k.starts_with(p))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {p}:\n{out}"))
    };
    // Files: only the granted directories, read-only unless `w`.
    assert_eq!(get("read=/etc/passwd"), "errno 13", "{out}");
    assert_eq!(get_prefix("read="), "errno 13");
    assert!(
        t.iter().any(|(k, v)| k.ends_with("data/f") && v == "ok"),
        "{out}"
    );
    assert!(
        t.iter()
            .any(|(k, v)| k.ends_with("data/new") && v == "errno 13"),
        "{out}"
    );
    assert!(
        t.iter().any(|(k, v)| k.ends_with("out/new") && v == "ok"),
        "{out}"
    );
    // A read-only dataspace stays read-only, even reopened through /proc.
    assert_eq!(get("writefd=4"), "errno 9");
    assert_eq!(get("reopen=4"), "errno 13");
    assert_eq!(
        get("chmodreopen=4"),
        "errno 1",
        "the owner may not chmod it"
    );
    // Network: a host listener is out of reach, the granted socket works.
    assert_eq!(get_prefix("tcp="), "errno 13");
    assert_eq!(get_prefix("udp="), "ok");
    assert_eq!(
        get("udp received"),
        format!("{:?}", Some(b"hello".to_vec()))
    );
    // Processes: no /proc, ned's channel fds unreachable, ned unseen.
    assert_eq!(get("ls=/proc"), "errno 13");
    assert_ne!(get_prefix("procfds="), "ok");
    assert_eq!(get_prefix("kill="), "errno 3");
    assert_eq!(out.probe("p")["pid"], 1, "PID 1 of its namespace:\n{out}");
    // seccomp's default list and no_new_privs.
    for call in ["ptrace", "mount", "kexec"] {
        assert_eq!(get(&format!("syscall={call}")), "errno 1", "{call}");
    }
    assert_eq!(get("nnp"), "ok");
}

#[test]
fn without_the_sandbox_the_same_attempts_succeed() {
    let (t, out) = probe_run("nil");
    let get_prefix = |p: &str| {
        t.iter()
            .find(|(k, _)| k.starts_with(p))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {p}:\n{out}"))
    };
    assert_eq!(get_prefix("read=/etc/passwd"), "ok");
    assert_eq!(get_prefix("ls=/proc"), "ok");
    assert!(
        t.iter().any(|(k, v)| k.ends_with("data/new") && v == "ok"),
        "{out}"
    );
    assert_eq!(get_prefix("tcp="), "ok");
    assert_eq!(get_prefix("procfds="), "ok", "ned's channel is reachable");
    assert_eq!(get_prefix("kill="), "ok");
    assert_eq!(get_prefix("chmodreopen="), "ok");
    assert_eq!(get_prefix("syscall=ptrace"), "errno 3");
    assert_eq!(get_prefix("syscall=mount"), "errno 2");
    assert_ne!(get_prefix("syscall=kexec"), "errno 1");
    assert_ne!(get_prefix("nnp"), "ok");
    // As root (the tests usually are), the memfd mode does not stop a reopen.
    if rustix_is_root() {
        assert_eq!(get_prefix("reopen=4"), "ok");
    }
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn seccomp_alone_lets_a_normal_program_run_and_blocks_admin_calls() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        r#"local ld = require("L4").default_loader
        local t = ld:startv({ log = { "p" }, sandbox = { seccomp = "default", no_new_privs = true } },
          "rom/probe", "--try", "syscall=ptrace", "--try", "syscall=mount", "--try", "syscall=kexec",
          "--try", "read=/etc/passwd")
        print("exit " .. tostring(t:wait()))"#,
    );
    out.ok().no_lua_error().stdout_has("exit 0");
    let t = tries(&out, "p");
    for call in ["ptrace", "mount", "kexec"] {
        assert_eq!(t[&format!("syscall={call}")], "errno 1", "{out}");
    }
    assert_eq!(t["read=/etc/passwd"], "ok", "{out}");
    assert_nothing_left(&sb);
}

#[test]
fn strict_runs_a_static_program_and_refuses_what_it_cannot_cover() {
    let sb = Sandbox::new();
    let s = sb.file(
        "s.lua",
        r#"local L4 = require("L4")
        local ld = L4.default_loader
        local t = ld:startv({ log = { "bb" }, sandbox = "strict", caps = { busybox = L4.Env.busybox } },
          "busybox", "echo", "static under strict")
        print("busybox exited with " .. tostring(t:wait()))
        for _, try in ipairs({
          { "strict", "rom/probe" },                 -- dynamic: no loader without system
          { "strict", "/bin/true" },                 -- a host path no cap covers
          { { "strict", seccomp = "tight" }, "rom/probe" },
          { { "strict", landlok = true }, "rom/probe" },
          { "strict", "rom/probe", "sandbx" },       -- a misspelt key would not confine
        }) do
          local ok, err = pcall(ld.startv, ld, { log = { "x" }, [try[3] or "sandbox"] = try[1] }, try[2])
          print("refused: " .. tostring(not ok) .. " " .. tostring(err))
        end
        local t = ld:startv({ log = { "sys" }, sandbox = { "strict", system = true } }, "/bin/true")
        print("system true exited with " .. tostring(t:wait()))
        -- The cgroup and rlimit keys are accepted alongside.
        local t = ld:startv({ log = { "lim" }, caps = { busybox = L4.Env.busybox },
          sandbox = { "strict", memory = "64M", pids = 16, rlimits = {} } }, "busybox", "true")
        print("limits exited with " .. tostring(t:wait()))
        local ok, t = pcall(ld.startv, ld, { log = { "id" }, caps = { busybox = L4.Env.busybox },
          sandbox = { "strict", uid = 65534, gid = 65534 } }, "busybox", "id")
        print(ok and ("id exited with " .. tostring(t:wait())) or ("id refused: " .. tostring(t)))"#,
    );
    let out = sb.ned(&[
        "--wait-and-exit",
        "--cap",
        "busybox=/bin/busybox:r",
        path_str(&s),
    ]);
    out.ok()
        .stdout_has("bb | static under strict")
        .stdout_has("busybox exited with 0")
        .stdout_has("could not create process: rom/probe:")
        .stdout_has("Permission denied (os error 13) (this sandbox grants only the task's caps: a dynamically linked program needs system = true)")
        .stdout_has("/bin/true: a host path is refused in this sandbox")
        .stdout_has("unknown seccomp preset 'tight' (presets: \"default\")")
        .stdout_has("unknown option 'landlok' (did you mean 'landlock'?)")
        .stdout_has("unknown key 'sandbx' in start table (did you mean 'sandbox'?")
        .stdout_has("system true exited with 0")
        .stdout_has("limits exited with 0");
    assert_eq!(out.stdout.matches("refused: true").count(), 5, "{out}");
    if rustix_is_root() {
        assert_eq!(out.log("id"), ["uid=65534 gid=65534"], "{out}");
        out.stdout_has("id exited with 0");
    } else {
        out.stdout_has("id refused: ")
            .stdout_has("uid or gid needs ned to run as root");
    }
    assert_nothing_left(&sb);
}

/// A directory nobody can use, holding copies of ned and ned-probe.
fn nobody_dir(sb: &Sandbox) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = sb.root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (from, to) in [(ned_bin(), "ned"), (probe_bin(), "probe")] {
        std::fs::copy(from, bin.join(to)).unwrap();
    }
    for d in [&sb.root, &sb.rom(), &bin] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

#[test]
fn an_ordinary_user_gets_namespaces_landlock_seccomp_and_no_new_privs() {
    let sb = Sandbox::new();
    let bin = nobody_dir(&sb);
    let s = sb.file(
        "u.lua",
        r#"local ld = require("L4").default_loader
        local t = ld:startv({ log = { "p" }, sandbox = { "strict", system = true } }, "rom/probe",
          "--try", "read=/etc/passwd", "--try", "syscall=mount", "--try", "nnp")
        print("exit " .. tostring(t:wait()))
        for _, sbx in ipairs({ { "strict", system = true, uid = 0 }, { mount = true }, { landlock = true, system = true } }) do
          local ok, err = pcall(ld.startv, ld, { log = { "x" }, sandbox = sbx }, "rom/probe")
          print("refused: " .. tostring(not ok) .. " " .. tostring(err))
        end"#,
    );
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin.join("ned"))
        .args(["--wait-and-exit", path_str(&s)])
        .current_dir(&sb.root)
        .env("NO_COLOR", "1");
    let child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run setpriv (util-linux)");
    let out = finish(child, crate::util::HANG_GUARD);
    out.ok().no_lua_error().stdout_has("exit 0");
    let t = tries(&out, "p");
    assert_eq!(t["read=/etc/passwd"], "errno 13", "{out}");
    assert_eq!(t["syscall=mount"], "errno 1", "{out}");
    assert_eq!(t["nnp"], "ok", "{out}");
    assert_eq!(out.probe("p")["pid"], 1, "{out}");
    // What needs root says so at start; a step only the child can take
    // (Landlock without no_new_privs, unprivileged) names itself.
    out.stdout_has("sandbox: uid or gid needs ned to run as root")
        .stdout_has("sandbox: a mount, pid, net, ipc or uts namespace without user = true needs ned to run as root")
        .stdout_has("failed to apply the Landlock ruleset for ")
        .stdout_has("Operation not permitted");
    assert_eq!(out.stdout.matches("refused: true").count(), 3, "{out}");
    assert!(!out.stdout.contains("x |"), "a refused task ran:\n{out}");
    assert_nothing_left(&sb);
}

#[test]
fn the_example_runs_busybox_under_strict() {
    let sb = Sandbox::new();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/sandbox.lua");
    let src = std::fs::read_to_string(&script).unwrap();
    // With busybox granted as a cap, and without (the host's, with `system`).
    for cap in [&["--cap", "busybox=/bin/busybox:r"][..], &[]] {
        let mut args = vec!["--wait-and-exit"];
        args.extend_from_slice(cap);
        args.push(path_str(&script));
        let out = sb.ned(&args);
        out.ok().no_lua_error();
        for line in src.lines().filter_map(|l| l.strip_prefix("-- expect: ")) {
            assert!(
                out.stdout.lines().any(|l| l == line),
                "missing {line:?} ({cap:?}):\n{out}"
            );
        }
        assert_nothing_left(&sb);
    }
}

/// A namespace's PID 1 gets from outside only the signals it handles: ned
/// gives a strict task that leaves SIGTERM at its default the default's
/// effect (SIGKILL) at once instead of waiting out the grace period, and
/// a task that handles SIGTERM still gets SIGTERM. The handling task takes
/// half a second to stop; the plain one is gone before it, which the grace
/// period (3 s) would have reversed.
#[test]
fn a_strict_task_without_a_sigterm_handler_stops_at_once() {
    let sb = Sandbox::new();
    let s = sb.file(
        "stop.lua",
        r#"local L4 = require("L4")
local ld = L4.default_loader
local caps = { busybox = L4.Env.busybox }
ld:startv({ caps = caps, log = { "plain" }, sandbox = "strict" }, "busybox", "sleep", "100")
ld:startv({ caps = caps, log = { "trap" }, sandbox = "strict" }, "busybox", "sh", "-c",
  "trap 'sleep 0.5; echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done")
L4.timer(300, function() os.exit(0) end)
"#,
    );
    let out = sb.ned(&[
        "--log-events",
        "--cap",
        "busybox=/bin/busybox:r",
        path_str(&s),
    ]);
    out.ok().no_lua_error();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let at = |want: &str| lines.iter().position(|l| l.ends_with(want));
    let killed = at("killed by signal 9").unwrap_or_else(|| panic!("{out}"));
    let trapped = at("exited with code 3").unwrap_or_else(|| panic!("{out}"));
    assert!(lines[killed].starts_with("plain"), "{out}");
    assert!(lines[trapped].starts_with("trap"), "{out}");
    assert!(
        killed < trapped,
        "the plain task waited for the grace period:\n{out}"
    );
    assert!(out.stdout.contains("got TERM"), "{out}");
    assert_nothing_left(&sb);
}
