//! Compiles the Lua files ned embeds (lua/) to Lua bytecode.
//!
//! Parsing `L4.lua` cost about as much as everything else of ned's start
//! together (0.4–0.8 ms on the development VM, on every script that
//! requires L4), loading its bytecode a tenth of that. The compiler is the
//! same vendored Lua that ned runs (mlua, one version in Cargo.lock), and
//! debug information is kept, so positions in errors stay those of the
//! source. A cross build, whose target Lua may differ in word size or byte
//! order from the build host's, embeds the source instead; `load` takes
//! either.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("lua");
    let native = env::var("HOST").ok() == env::var("TARGET").ok();
    let lua = mlua::Lua::new();
    println!("cargo:rerun-if-changed=lua");
    let mut files = Vec::new();
    collect(Path::new("lua"), &mut files);
    for file in files {
        let rel = file.strip_prefix("lua").expect("under lua/");
        let src = fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let bytes = if native {
            let name = format!("={}", rel.display());
            let f = lua
                .load(&src)
                .set_name(name)
                .into_function()
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            f.dump(false)
        } else {
            src
        };
        let dest = out.join(rel);
        fs::create_dir_all(dest.parent().expect("a file's directory"))
            .and_then(|()| fs::write(&dest, bytes))
            .unwrap_or_else(|e| panic!("write {}: {e}", dest.display()));
    }
}

/// Every `.lua` file beneath `dir`.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|x| x == "lua") {
            files.push(path);
        }
    }
}
