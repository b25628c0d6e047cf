//! ned as PID 1 of a new PID namespace (`unshare --user --map-root-user
//! --pid --fork --mount-proc`, which needs no privilege where user
//! namespaces are allowed) and as a subreaper (`--subreaper`): orphans of
//! tasks that double-fork land on ned and are reaped, while ned's own
//! tasks' exits still reach their `wait()` with the right code or signal.

use crate::util::{Sandbox, path_str, run};

/// The boot script: a task double-forks five grandchildren (a copy of
/// sleep named `orphan`) and exits 3; one task kills itself; then a
/// counting task waits until no `orphan` whose parent is ned is left (a
/// zombie one counts too) and counts ned's zombie children, from ned's
/// own `/proc` (the namespace's, under `--mount-proc`).
const DOUBLE_FORK: &str = r#"local L4 = require('L4')
local ld = L4.default_loader
local dir = ...
local f = ld:startv({ log = { 'fork' } }, '/bin/sh', '-c',
  'for i in 1 2 3 4 5; do ( "$0" 0.2 & ); done; exit 3', dir .. '/orphan')
print('fork exit', f:wait())
local k = ld:startv({ log = { 'kill' } }, '/bin/sh', '-c', 'kill -9 $$')
k:wait()
print('kill signal', k:signal())
local c = ld:startv({ log = { 'count' } }, '/bin/sh', '-c', [[
i=0
while [ $i -lt 400 ]; do
  n=0
  for f in /proc/[0-9]*/stat; do
    read -r l < "$f" 2>/dev/null || continue
    case "$l" in *"(orphan) "?" $PPID "*) n=$((n+1));; esac
  done
  [ $n -eq 0 ] && break
  sleep 0.05; i=$((i+1))
done
z=0
for f in /proc/[0-9]*/stat; do
  read -r l < "$f" 2>/dev/null || continue
  case "$l" in *") Z $PPID "*) z=$((z+1));; esac
done
echo "orphans left $n, zombies $z, ned is $PPID"]])
print('count exit', c:wait())
"#;

/// Writes the script and the `orphan` program into a sandbox.
fn setup() -> (Sandbox, String) {
    let sb = Sandbox::new();
    std::fs::copy("/bin/sleep", sb.rom().join("orphan")).expect("copy sleep");
    let script = sb.file("double_fork.lua", DOUBLE_FORK);
    (sb, path_str(&script).to_owned())
}

fn assert_reaped(out: &crate::util::Out) {
    out.clean();
    out.stdout_has("fork exit\t3")
        .stdout_has("kill signal\t9")
        .stdout_has("count | orphans left 0, zombies 0")
        .stdout_has("count exit\t0");
}

/// Whether this machine lets an unprivileged user namespace own a PID
/// namespace; if not, the reason.
fn pid_namespace_unavailable() -> Option<String> {
    let out = std::process::Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount-proc",
        ])
        .arg("true")
        .output();
    match out {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => Some(format!("unshare(1): {e}")),
    }
}

#[test]
fn as_pid1_orphans_are_reaped_and_task_exits_stay_right() {
    if let Some(why) = pid_namespace_unavailable() {
        eprintln!("no PID namespace here, not run: {why}");
        return;
    }
    let (sb, script) = setup();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--pid",
        "--fork",
        "--mount-proc",
    ])
    .arg(crate::util::ned_bin())
    .args(["--wait-and-exit", &script, path_str(&sb.rom())])
    .current_dir(&sb.root)
    .env("NO_COLOR", "1")
    .stdin(std::process::Stdio::null());
    let out = run(&mut cmd);
    assert_reaped(&out);
    out.stdout_has("ned is 1");
}

#[test]
fn as_subreaper_orphans_are_reaped_and_task_exits_stay_right() {
    let (sb, script) = setup();
    let out = sb.ned(&[
        "--wait-and-exit",
        "--subreaper",
        &script,
        path_str(&sb.rom()),
    ]);
    assert_reaped(&out);
}
