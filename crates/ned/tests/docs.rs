//! Runs every ```lua example of the documentation pages as a boot script, as
//! the pages promise: `ned <args> <example>` must exit 0 and print no
//! `lua error`.
//!
//! - docs/l4.md: `ned --wait-and-exit --rom /bin <example>`
//! - docs/lunatik.md: `ned --exit --lua-root docs/lunatik <example>`, so the
//!   runtime scripts the examples load are docs/lunatik/*.lua.

use std::path::{Path, PathBuf};
use std::process::Command;

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
        let out = Command::new(env!("CARGO_BIN_EXE_ned"))
            .args(args)
            .arg(&script)
            .output()
            .expect("run ned");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("lua error"),
            "{page}: example {i} failed ({}):\n{code}\nstdout:\n{}\nstderr:\n{stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
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
