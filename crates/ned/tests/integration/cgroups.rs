//! Cgroup and resource limits of a task (issue 13; docs/sandbox.md):
//! `sandbox = { memory = ..., pids = ..., rlimits = {...} }`. A task over
//! its memory limit is killed and ned says so; a fork bomb stops at its
//! pids limit and ned says so; rlimits are what the task sees; bad values
//! are Lua errors; an ordinary user gets a plain error at `start`. After
//! every run no cgroup directory of ned's is left and no process of it.
//!
//! These run as root: the cgroup hierarchies here belong to root (the
//! non-root test switches to uid 65534 itself).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{HANG_GUARD, KillOnDrop, Out, Sandbox, finish, path_str, pid_alive};

fn assert_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the cgroup tests run as root (cgroup directories belong to root here)"
    );
}

/// Runs `ned --wait-and-exit` on `src` (as `rom/test.lua`), through
/// `wrap` (e.g. setpriv) when given, and checks that ned left no cgroup
/// directory and no process in one.
fn run(sb: &Sandbox, wrap: &[&str], src: &str) -> Out {
    let script = sb.file("test.lua", src);
    let mut cmd = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(crate::util::ned_bin());
            c
        }
        None => Command::new(crate::util::ned_bin()),
    };
    cmd.args(["--wait-and-exit", path_str(&script)])
        .current_dir(&sb.root)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    let mut ned = KillOnDrop::spawn(&mut cmd);
    // setpriv execs ned: the pid stays the same.
    let pid = ned.pid();
    let out = finish(ned.take(), HANG_GUARD);
    let name = format!("ned-{pid}");
    let left = dirs_named(Path::new("/sys/fs/cgroup"), &name, 0);
    assert!(left.is_empty(), "cgroup directories left: {left:?}\n{out}");
    let inside = processes_in_cgroups_named(&name);
    assert!(
        inside.is_empty(),
        "processes left in {name}: {inside:?}\n{out}"
    );
    out
}

/// Directories called `name` under `dir`, at most 5 levels down (the
/// hierarchy, ned's own cgroup in it, then `ned-<pid>`).
fn dirs_named(dir: &Path, name: &str, depth: usize) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        if e.file_name() == name {
            found.push(p);
        } else if depth < 5 {
            found.extend(dirs_named(&p, name, depth + 1));
        }
    }
    found
}

/// Live processes whose /proc/PID/cgroup names a cgroup `name`.
fn processes_in_cgroups_named(name: &str) -> Vec<String> {
    let needle = format!("/{name}/");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<i64>().ok()?;
            let cg = std::fs::read_to_string(e.path().join("cgroup")).ok()?;
            (cg.contains(&needle) && pid_alive(pid)).then(|| format!("{pid}: {cg}"))
        })
        .collect()
}

#[test]
fn a_task_over_its_memory_limit_is_killed_and_ned_says_so() {
    assert_root();
    let sb = Sandbox::new();
    // The shell keeps a command substitution's whole output: 100 MB of it.
    let out = run(
        &sb,
        &[],
        r#"
local L4 = require("L4")
local t = L4.default_loader:startv({ log = { "hog" }, sandbox = { memory = "32M" } },
  "/bin/sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived")
print("hog", t:wait(), t:signal())
-- Under its limit the same task is untouched.
local t = L4.default_loader:startv({ log = { "fits" }, sandbox = { memory = "32M" } },
  "/bin/sh", "-c", "x=$(head -c 1000000 /dev/zero | tr '\\0' a); echo fits ${#x}")
print("fits", t:wait(), t:signal())
"#,
    );
    out.ok().no_lua_error();
    out.stdout_has("hog\tnil\t9\n");
    out.stderr_has("ned: hog killed by SIGKILL: out of memory (cgroup memory limit 32 MiB)");
    assert!(out.log("hog").is_empty(), "{out}");
    assert_eq!(out.log("fits"), ["fits 1000000"], "{out}");
    out.stdout_has("fits\t0\tnil\n");
    assert!(!out.stderr.contains("fits"), "{out}");
}

#[test]
fn a_fork_bomb_stops_at_its_pids_limit_and_ned_says_so() {
    assert_root();
    let sb = Sandbox::new();
    // Every bomb process forks two more, forever, in a subshell, while the
    // task's shell waits for a sleep it started first; the script ends the
    // task's tree after a while. The top shell forks nothing once the bomb
    // runs (had it forked the bomb's first pipeline itself, the bomb could
    // fill the limit between its two forks and the shell would die with
    // "Cannot fork" instead of waiting). Any bomb process that survived
    // would still be in the leaf (`run` checks).
    let out = run(
        &sb,
        &[],
        r#"
local L4 = require("L4")
local t = L4.default_loader:startv({ log = { "bomb" }, sandbox = { pids = 16 } },
  "/bin/sh", "-c", "sleep 100 & (b() { b | b & }; b); wait")
L4.msleep(1500)
t:kill_tree(9)
print("bomb", t:wait(), t:signal())
"#,
    );
    out.ok().no_lua_error();
    out.stdout_has("bomb\tnil\t9\n");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with("ned: bomb: fork refused "))
        .unwrap_or_else(|| panic!("no pids report:\n{out}"));
    assert!(line.ends_with(" times: pids limit 16"), "{line}");
}

#[test]
fn rlimits_are_what_the_task_sees() {
    assert_root();
    let sb = Sandbox::new();
    let out = run(
        &sb,
        &[],
        r#"
local L4 = require("L4")
local t = L4.default_loader:startv({ log = { "lim" }, sandbox = {
    rlimits = { nofile = { 100, 200 }, core = 0, cpu = 10, fsize = "1G",
                as = "unlimited", nproc = 4096, stack = "8M" } } },
  "/bin/cat", "/proc/self/limits")
print("lim", t:wait(), t:signal())
"#,
    );
    out.ok().no_lua_error();
    out.stdout_has("lim\t0\tnil\n");
    let limits = out.log("lim");
    let row = |name: &str| -> Vec<String> {
        let line = limits
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{out}"));
        line[name.len()..]
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(row("Max open files"), ["100", "200", "files"]);
    assert_eq!(row("Max core file size"), ["0", "0", "bytes"]);
    assert_eq!(row("Max cpu time"), ["10", "10", "seconds"]);
    assert_eq!(row("Max file size"), ["1073741824", "1073741824", "bytes"]);
    assert_eq!(
        row("Max address space"),
        ["unlimited", "unlimited", "bytes"]
    );
    assert_eq!(row("Max processes"), ["4096", "4096", "processes"]);
    assert_eq!(row("Max stack size"), ["8388608", "8388608", "bytes"]);
}

#[test]
fn bad_limits_are_lua_errors_and_start_nothing() {
    assert_root();
    let sb = Sandbox::new();
    let out = run(
        &sb,
        &[],
        r#"
local L4 = require("L4")
for _, sb in ipairs({
  { memory = -1 }, { memory = "12X" }, { pids = 0 }, { pids = "many" },
  { rlimits = { nofiles = 10 } }, { rlimits = { nofile = { 20, 10 } } },
  { rlimits = { cpu = -3 } }, { memroy = "1M" }, 7,
}) do
  local ok, err = pcall(L4.default_loader.startv, L4.default_loader,
    { log = { "never" }, sandbox = sb }, "/bin/echo", "started")
  print(ok, err)
end
-- A step that fails in the child after it joined its leaf: the leaf goes too.
local ok, err = pcall(L4.default_loader.startv, L4.default_loader, { log = { "never" },
  sandbox = { memory = "16M", pids = 4, rlimits = { nofile = { 10, 1 << 40 } } } }, "/bin/echo")
print(ok, err)
-- Right away, not only at ned's exit (the shell's parent is ned).
local find = io.popen("find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -path \"*/ned-$PPID/*\" -type d")
io.stderr:write("leaves: [", find:read("a"), "]\n")
find:close()
"#,
    );
    out.ok().no_lua_error();
    let want = [
        "sandbox.memory must not be negative, got -1",
        "sandbox.memory must be a size (bytes, or a string such as \"64M\"), got \"12X\"",
        "sandbox.pids must be above 0",
        "sandbox.pids must be a whole number, got \"many\"",
        "sandbox.rlimits: unknown resource 'nofiles' (known: as, core, cpu, data, fsize, \
         memlock, msgqueue, nice, nofile, nproc, rtprio, rttime, sigpending, stack)",
        "sandbox.rlimits.nofile: the soft limit 20 is above the hard limit 10",
        "sandbox.rlimits.cpu must not be negative, got -3",
        "sandbox: unknown option 'memroy' (did you mean 'memory'?)",
        "sandbox must be \"strict\" or a table, got number",
    ];
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), want.len() + 1, "{out}");
    let last = lines.pop().unwrap_or_default();
    assert!(
        last.starts_with("false\t")
            && last.ends_with(
                "could not create process: /bin/echo: failed to set rlimit nofile \
                 (RLIMIT_NOFILE) for /bin/echo: Operation not permitted (os error 1)"
            ),
        "{out}"
    );
    for (line, want) in lines.iter().zip(want) {
        assert!(
            line.starts_with("false\t")
                && line.ends_with(&format!("bad argument #1 to 'startv' ({want})")),
            "{line:?} is not the error {want:?}\n{out}"
        );
    }
    assert!(out.log("never").is_empty(), "{out}");
    out.stderr_has("leaves: []");
}

#[test]
fn an_ordinary_user_gets_a_plain_error_at_start_and_rlimits_still_work() {
    assert_root();
    let sb = Sandbox::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sb.root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = run(
        &sb,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ],
        r#"
local L4 = require("L4")
local ok, err = pcall(L4.default_loader.startv, L4.default_loader,
  { log = { "never" }, sandbox = { memory = "64M", pids = 8 } }, "/bin/echo", "started")
print(ok, err)
local t = L4.default_loader:startv({ log = { "lim" }, sandbox = { rlimits = { nofile = 50 } } },
  "/bin/sh", "-c", "ulimit -n")
print("lim", t:wait(), t:signal())
"#,
    );
    out.ok().no_lua_error();
    let first = out.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("false\t")
            && first.contains(
                "could not create process: /bin/echo: failed to set up the task's cgroup: \
                 cgroup limits need a cgroup v2 hierarchy with the memory/pids controllers or \
                 the v1 memory and pids hierarchies; none is usable here: "
            )
            && first.contains("is not writable (Permission denied (os error 13))")
            && first.ends_with("for uid 65534"),
        "{out}"
    );
    assert!(out.log("never").is_empty(), "{out}");
    assert_eq!(out.log("lim"), ["50"], "{out}");
    out.stdout_has("lim\t0\tnil\n");
}
