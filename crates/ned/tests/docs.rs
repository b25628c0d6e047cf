//! Runs every ```lua example of the documentation pages as a boot script, as
//! the pages promise: `ned <args> <example>` must exit 0 and print no
//! `lua error` and no warning, within [`HANG_GUARD`] (else ned is stopped
//! and the test fails naming the block).
//!
//! - docs/l4.md: `ned --wait-and-exit --rom /bin <example>`
//! - docs/prompt-helpers.md: as docs/l4.md.
//! - docs/sandbox.md: as docs/l4.md, as root.
//! - docs/lunatik.md: `ned --exit --lua-root docs/lunatik <example>`, so the
//!   runtime scripts the examples load are docs/lunatik/*.lua.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Longest one example may run.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn examples(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in page.lines() {
        match (&mut cur, line.trim_end()) {
            (None, "```lua") => cur = Some(String::new()),
            (Some(_), "```") => out.extend(cur.take()),
            (Some(code), l) => {
                code.push_str(l);
                code.push('\n');
            }
            _ => {}
        }
    }
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs each ```lua block of `page` (relative to the repository) as
/// `ned <args> <block>`; expects at least `min` blocks.
fn run_page(page: &str, args: &[&str], min: usize) {
    let text = std::fs::read_to_string(repo().join(page)).expect(page);
    let blocks = examples(&text);
    assert!(
        blocks.len() >= min,
        "expected the examples of {page}, found {}",
        blocks.len()
    );
    let stem = Path::new(page).file_stem().unwrap().to_string_lossy();
    let dir = std::env::temp_dir().join(format!("ned-docs-{stem}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, code) in blocks.iter().enumerate() {
        let script = dir.join(format!("example{i}.lua"));
        std::fs::write(&script, code).unwrap();
        let (out, err) = (
            dir.join(format!("example{i}.out")),
            dir.join(format!("example{i}.err")),
        );
        let status = run_guarded(args, &script, &out, &err);
        let stdout = std::fs::read_to_string(&out).unwrap_or_default();
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        let failed = match status {
            None => format!("did not finish within {HANG_GUARD:?}"),
            Some(s) if !s.success() => format!("failed ({s})"),
            Some(_) if stderr.contains("lua error") => "printed a lua error".into(),
            Some(_) if stderr.contains("ned: warning:") => "printed a warning".into(),
            Some(_) => continue,
        };
        panic!("{page}: example {i} {failed}:\n{code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ned <args> <script>` with its output in files (no pipe to fill up);
/// None when it had to be stopped after [`HANG_GUARD`]: SIGTERM first, so
/// ned stops its tasks, then SIGKILL.
fn run_guarded(args: &[&str], script: &Path, out: &Path, err: &Path) -> Option<ExitStatus> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ned"))
        .args(args)
        .arg(script)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out).expect("create stdout file"))
        .stderr(std::fs::File::create(err).expect("create stderr file"))
        .spawn()
        .expect("run ned");
    let start = Instant::now();
    while start.elapsed() < HANG_GUARD {
        if let Some(status) = child.try_wait().expect("wait for ned") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let grace = Instant::now();
    while grace.elapsed() < Duration::from_secs(5) {
        if child.try_wait().expect("wait for ned").is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn docs_examples() {
    run_page("docs/l4.md", &["--wait-and-exit", "--rom", "/bin"], 10);
}

#[test]
fn lunatik_docs_examples() {
    let root = repo().join("docs/lunatik");
    let root = root.to_str().expect("utf-8 path");
    run_page("docs/lunatik.md", &["--exit", "--lua-root", root], 10);
}

#[test]
fn prompt_helpers_docs_examples() {
    run_page(
        "docs/prompt-helpers.md",
        &["--wait-and-exit", "--rom", "/bin"],
        3,
    );
}

/// docs/sandbox.md as root: its cgroup examples need the root-owned
/// hierarchies. (Blocks fenced `lua pending` wait for options of another
/// branch and are not run.)
#[test]
fn sandbox_docs_examples() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the sandbox examples run as root"
    );
    run_page("docs/sandbox.md", &["--wait-and-exit", "--rom", "/bin"], 8);
}
