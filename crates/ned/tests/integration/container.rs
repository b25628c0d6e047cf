//! ned as PID 1 of a real OCI container (issue 11, point 2), run by
//! Debian's `runc` (spec §16: crun refuses this machine's hybrid cgroups)
//! from a bundle this test assembles: a rootfs of static programs only —
//! the static ned (bench/build-static-ned.sh; `$NED_STATIC` names a
//! prebuilt one, as .ci/run does) and busybox-static — and a config.json
//! from `runc spec`. No image is downloaded.
//!
//! Checked: the boot script's tasks run, a task's double-forked orphans
//! are reaped (no zombie in the container), `runc kill` (SIGTERM to PID 1)
//! stops the tasks with SIGTERM, well within the grace period, and the
//! container's exit status is the one `--exit-code-from` chose.
//! Also here: the YAML of docs/containers.md is valid (PyYAML).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::exits::signal_served;
use crate::util::{Sandbox, path_str};

/// The static ned: `$NED_STATIC`, else the release build of the static
/// target in this target directory, brought up to date now (cargo makes
/// that a no-op when nothing changed).
fn static_ned() -> PathBuf {
    if let Some(p) = std::env::var_os("NED_STATIC") {
        return PathBuf::from(p);
    }
    let debug = crate::util::ned_bin();
    let target = debug
        .parent()
        .and_then(Path::parent)
        .expect("target/debug/ned");
    let p = target.join("x86_64-unknown-linux-gnu/release/ned");
    {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/build-static-ned.sh");
        let st = Command::new(&script)
            .env("CARGO_TARGET_DIR", target)
            .status()
            .expect("run bench/build-static-ned.sh");
        assert!(st.success(), "building the static ned failed");
    }
    p
}

/// Removes the container whatever happens to the test.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "--force", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// The boot script: a database-like task that stops on SIGTERM with
/// status 3, a worker that stops with 0, and a task that double-forks
/// three orphans and exits; a counting task reports the zombies left in
/// the container once the orphans are gone.
const BOOT: &str = r#"local L4 = require('L4')
local ld = L4.default_loader
local db = ld:startv({ log = { 'db' } }, '/bin/sh', '-c',
  'trap "echo db stopping; exit 3" TERM; echo ready; while :; do sleep 1 & wait; done')
db:exit_handler(function(c) print('db ended', c, db:signal()) end)
local w = ld:startv({ log = { 'worker' } }, '/bin/sh', '-c',
  'trap "echo worker stopping; exit 0" TERM; echo ready; while :; do sleep 1 & wait; done')
-- The container's kill (SIGTERM to PID 1) stops in dependency order: the
-- worker first, the db once the worker is gone; the db's end then ends
-- ned with the db's status (--exit-code-from db).
local stopping = false
w:exit_handler(function(c)
  print('worker ended', c, w:signal())
  if stopping then db:kill(15) end
end)
L4.on_signal('TERM', function()
  print('stopping in order')
  stopping = true
  w:kill(15)
end)
local f = ld:startv({ log = { 'fork' } }, '/bin/sh', '-c', 'for i in 1 2 3; do ( sleep 0.2 & ); done; exit 0')
print('fork exit', f:wait())
local c = ld:startv({ log = { 'count' } }, '/bin/sh', '-c', [[
i=0
while [ $i -lt 400 ]; do
  n=0
  for s in /proc/[0-9]*/stat; do
    read -r l < "$s" 2>/dev/null || continue
    case "$l" in *"(sleep) "?" 1 "*) n=$((n+1));; esac
  done
  [ $n -eq 0 ] && break
  sleep 0.05; i=$((i+1))
done
z=0
for s in /proc/[0-9]*/stat; do
  read -r l < "$s" 2>/dev/null || continue
  case "$l" in *") Z "*) z=$((z+1));; esac
done
echo "orphans left $n, zombies $z"
echo ready]])
"#;

/// Assembles the bundle in `dir`: rootfs and config.json.
fn bundle(dir: &Path, ned: &Path) {
    let root = dir.join("rootfs");
    for d in ["bin", "sbin", "etc", "proc", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("/bin/busybox (Debian's busybox-static) is needed");
    for applet in ["sh", "sleep", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet link");
    }
    std::fs::copy(ned, root.join("sbin/ned")).expect("copy the static ned");
    std::fs::write(root.join("etc/boot.lua"), BOOT).expect("boot script");
    let st = Command::new("runc")
        .arg("spec")
        .current_dir(dir)
        .status()
        .expect("runc spec");
    assert!(st.success(), "runc spec failed");
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("config.json")).expect("json");
    config["process"]["args"] =
        serde_json::json!(["/sbin/ned", "--exit-code-from", "db", "/etc/boot.lua"]);
    config["process"]["terminal"] = false.into();
    config["process"]["env"] = serde_json::json!(["PATH=/bin:/sbin", "NO_COLOR=1"]);
    config["root"]["readonly"] = false.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("json")).expect("write");
}

/// Why runc cannot run a container here at all, if it cannot.
fn runc_unavailable() -> Option<String> {
    if Command::new("runc").arg("--version").output().is_err() {
        return Some("runc is not installed (Debian: apt-get install runc)".into());
    }
    if !rustix::process::geteuid().is_root() {
        return Some("runc needs root here".into());
    }
    None
}

#[test]
fn ned_is_pid1_of_a_runc_container() {
    if let Some(why) = runc_unavailable() {
        eprintln!("not run: {why}");
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.root.join("bundle");
    bundle(&dir, &static_ned());
    let id = format!("ned-it-{}", std::process::id());
    let _container = Container(id.clone());
    let mut cmd = Command::new("runc");
    cmd.args(["run", "--bundle", path_str(&dir), &id])
        .stdin(Stdio::null());
    // `runc kill` is how a runtime stops a container: SIGTERM to PID 1.
    let kill = |_: &std::process::Child| {
        let st = Command::new("runc")
            .args(["kill", &id, "TERM"])
            .status()
            .expect("runc kill");
        assert!(st.success(), "runc kill failed");
    };
    let (out, err, code, _) = signal_served(cmd, 3, kill);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.contains("fork exit\t0"), "{out}\n{err}");
    assert!(out.contains("| orphans left 0, zombies 0"), "{out}\n{err}");
    // Stopped by SIGTERM, each through its trap (no SIGKILL was needed),
    // in order: the worker before the db it depends on.
    let at = |w: &str| {
        out.find(w)
            .unwrap_or_else(|| panic!("no {w:?} in:\n{out}\n{err}"))
    };
    assert!(at("stopping in order") < at("| worker stopping"), "{out}");
    assert!(at("worker ended\t0") < at("| db stopping"), "{out}\n{err}");
    assert!(out.contains("db ended\t3\tnil"), "{out}\n{err}");
    assert!(out.contains("worker ended\t0\tnil"), "{out}\n{err}");
    // The container's status is the db's, as --exit-code-from asked.
    assert_eq!(code, Some(3), "{out}\n{err}");
}

/// The YAML blocks of docs/containers.md parse, and the pod spec has what
/// the page promises (a grace period and a readiness probe through ned).
#[test]
fn container_docs_yaml_is_valid() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/containers.md");
    let text = std::fs::read_to_string(&page).expect("docs/containers.md");
    let blocks: Vec<&str> = text
        .split("```yaml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or(""))
        .collect();
    assert!(!blocks.is_empty(), "no ```yaml block in {}", page.display());
    let check = "import sys, yaml\n\
                 docs = [d for d in yaml.safe_load_all(sys.stdin) if d]\n\
                 pod = [d for d in docs if d.get('kind') == 'Pod'][0]\n\
                 spec = pod['spec']\n\
                 assert int(spec['terminationGracePeriodSeconds']) > 0\n\
                 c = spec['containers'][0]\n\
                 assert 'readinessProbe' in c, c\n\
                 print('ok', len(docs))\n";
    let mut child = Command::new("python3")
        .args(["-c", check])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(blocks.join("\n---\n").as_bytes())
        .expect("write yaml");
    let out = child.wait_with_output().expect("python3");
    assert!(
        out.status.success(),
        "YAML check failed (PyYAML: Debian's python3-yaml): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
