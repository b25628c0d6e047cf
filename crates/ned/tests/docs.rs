//! Runs every ```lua example of docs/l4.md as a boot script, as the page
//! promises: `ned --wait-and-exit --rom /bin <example>` must exit 0 and print
//! no `lua error`.

use std::path::Path;
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

#[test]
fn docs_examples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let page = std::fs::read_to_string(root.join("docs/l4.md")).expect("docs/l4.md");
    let blocks = examples(&page);
    assert!(
        blocks.len() >= 10,
        "expected the examples of docs/l4.md, found {}",
        blocks.len()
    );
    let dir = std::env::temp_dir().join(format!("ned-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, code) in blocks.iter().enumerate() {
        let script = dir.join(format!("example{i}.lua"));
        std::fs::write(&script, code).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ned"))
            .args(["--wait-and-exit", "--rom", "/bin"])
            .arg(&script)
            .output()
            .expect("run ned");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("lua error"),
            "example {i} failed ({}):\n{code}\nstdout:\n{}\nstderr:\n{stderr}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
