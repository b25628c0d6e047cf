//! Test harness: a temporary directory per test with a `rom/` holding the
//! programs (at least `rom/probe`, a hard link to `ned-probe`) and the scripts,
//! and a runner for the real `ned` binary with a hang guard.
//!
//! Scripts are written into `rom/`, so the default `rom` cap (the script's
//! directory) names that directory and `"rom/probe"` resolves as a user
//! would expect.

// Shared by all modules; not every module uses every helper.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest a single ned run may take before the test calls it a hang.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

pub fn ned_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ned"))
}

/// The workspace binary `name`, built into the same target directory as
/// `ned` (`cargo build --bins`, which .ci/run does before the tests).
pub fn sibling_bin(name: &str) -> PathBuf {
    let p = ned_bin()
        .parent()
        .expect("the ned binary has a directory")
        .join(name);
    assert!(
        p.exists(),
        "{name} not found at {}: build it first (`cargo build --bins`, \
         which .ci/run does before the tests)",
        p.display()
    );
    p
}

pub fn probe_bin() -> PathBuf {
    sibling_bin("ned-probe")
}

pub fn prompt_bin() -> PathBuf {
    sibling_bin("ned-prompt")
}

/// A temporary directory, removed on drop.
pub struct Sandbox {
    pub root: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Sandbox {
    /// `root/rom/probe` is ned-probe.
    pub fn new() -> Sandbox {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("ned-it-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("rom")).expect("create sandbox");
        // A hard link (a copy across file systems), not a symlink: ned
        // refuses absolute symlinks in its rom (they may point anywhere).
        let probe = root.join("rom/probe");
        if std::fs::hard_link(probe_bin(), &probe).is_err() {
            std::fs::copy(probe_bin(), &probe).expect("copy probe");
        }
        Sandbox { root }
    }

    pub fn rom(&self) -> PathBuf {
        self.root.join("rom")
    }

    /// Writes `rom/<name>` and returns its path.
    pub fn file(&self, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let p = self.rom().join(name);
        std::fs::write(&p, text).expect("write sandbox file");
        p
    }

    /// Writes an executable `rom/<name>`.
    pub fn exe(&self, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.file(name, text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    /// Writes the script `rom/<name>` and runs `ned <mode> script`.
    pub fn run_script(&self, mode: &str, name: &str, src: &str) -> Out {
        let s = self.file(name, src);
        let s = s.to_str().expect("utf-8 temp path");
        if mode.is_empty() {
            self.ned(&[s])
        } else {
            self.ned(&[mode, s])
        }
    }

    /// `ned --wait-and-exit <script>` with `src` as the script.
    pub fn wait_and_exit(&self, src: &str) -> Out {
        self.run_script("--wait-and-exit", "test.lua", src)
    }

    /// Runs ned with `args` in the sandbox root.
    pub fn ned(&self, args: &[&str]) -> Out {
        let mut cmd = self.command(args);
        run(&mut cmd)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ned_bin());
        cmd.args(args)
            .current_dir(&self.root)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        cmd
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// What one ned run produced.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout_raw: Vec<u8>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Exit status 0, no panic, no signal.
    pub fn ok(&self) -> &Self {
        self.clean();
        assert_eq!(self.code, Some(0), "ned failed:\n{self}");
        self
    }

    /// Ended normally (any status) without a panic message.
    pub fn clean(&self) -> &Self {
        assert_eq!(self.signal, None, "ned died of a signal:\n{self}");
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "ned panicked:\n{self}"
        );
        self
    }

    pub fn status(&self, code: i32) -> &Self {
        self.clean();
        assert_eq!(self.code, Some(code), "unexpected exit status:\n{self}");
        self
    }

    pub fn stdout_has(&self, s: &str) -> &Self {
        assert!(self.stdout.contains(s), "stdout lacks {s:?}:\n{self}");
        self
    }

    pub fn stderr_has(&self, s: &str) -> &Self {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}:\n{self}");
        self
    }

    pub fn no_lua_error(&self) -> &Self {
        assert!(
            !self.stderr.contains("lua error"),
            "unexpected lua error:\n{self}"
        );
        self
    }

    /// Lines of the log stream tagged `tag` (`tag | line`), without prefix.
    pub fn log(&self, tag: &str) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| {
                let (t, rest) = l.split_once(" | ")?;
                (t.trim_end() == tag).then(|| rest.to_owned())
            })
            .collect()
    }

    /// Every probe report printed under `tag`.
    pub fn probes(&self, tag: &str) -> Vec<Value> {
        self.log(tag)
            .iter()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad probe JSON {l}: {e}")))
            .collect()
    }

    /// The single probe report under `tag`.
    pub fn probe(&self, tag: &str) -> Value {
        let mut p = self.probes(tag);
        assert_eq!(p.len(), 1, "expected one probe report for {tag}:\n{self}");
        p.remove(0)
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cut = |s: &str| -> String {
            if s.len() > 6000 {
                format!(
                    "{}...[{} bytes]",
                    &s[..s.floor_char_boundary_compat(6000)],
                    s.len()
                )
            } else {
                s.to_owned()
            }
        };
        write!(
            f,
            "status: {:?} signal: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code,
            self.signal,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

trait Boundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}
impl Boundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

/// Kills a spawned ned when dropped, so a test that fails before it
/// collects ned leaves no process behind.
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    /// Spawns `cmd` with piped stdout and stderr (for [`finish`]).
    pub fn spawn(cmd: &mut Command) -> KillOnDrop {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ned");
        KillOnDrop(Some(child))
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map(Child::id).expect("child already taken")
    }

    /// Sends `sig` (`-TERM`, `-34`, ...) with kill(1), which must succeed.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// The child, for collecting it; the guard then does nothing.
    pub fn take(&mut self) -> Child {
        self.0.take().expect("child already taken")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Spawns `cmd` with piped output and waits with the hang guard.
pub fn run(cmd: &mut Command) -> Out {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ned");
    finish(child, HANG_GUARD)
}

/// Collects a spawned child's output; kills it (and fails) after `guard`.
pub fn finish(mut child: Child, guard: Duration) -> Out {
    let mut so = child.stdout.take().expect("piped stdout");
    let mut se = child.stderr.take().expect("piped stderr");
    let t1 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = so.read_to_end(&mut b);
        b
    });
    let t2 = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = se.read_to_end(&mut b);
        b
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait ned") {
            break s;
        }
        if start.elapsed() > guard {
            let _ = child.kill();
            let _ = child.wait();
            let out = t1.join().unwrap_or_default();
            let err = t2.join().unwrap_or_default();
            panic!(
                "ned did not finish within {guard:?}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout_raw = t1.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&t2.join().unwrap_or_default()).into_owned();
    use std::os::unix::process::ExitStatusExt;
    Out {
        code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&stdout_raw).into_owned(),
        stdout_raw,
        stderr,
    }
}

/// Whether process `pid` still exists (and is not a zombie of ours).
pub fn pid_alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .map(|(_, r)| r.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Polls `cond` until it holds or `guard` passes.
pub fn wait_for(guard: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < guard {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// The fds of a probe report: `(fd, kind)`.
pub fn fds(report: &Value) -> Vec<(i64, String)> {
    report["fds"]
        .as_array()
        .expect("fds array")
        .iter()
        .map(|f| {
            (
                f["fd"].as_i64().expect("fd number"),
                f["kind"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
