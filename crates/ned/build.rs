//! Links ned's unwinder statically (libgcc_eh.a) instead of libgcc_s.so.
//!
//! Rust's std asks for `-lgcc_s` on a dynamic glibc target. Loading that
//! library costs ned's start more than anything else it does for an empty
//! script: ld.so maps and relocates it, and its constructor executes `cpuid`
//! several times, each a VM exit on a virtual machine (bench/README.md). The
//! unwinder ned needs is the same code in libgcc_eh.a, which the static build
//! (`+crt-static`) already links. A linker script named `libgcc_s.so` in a
//! search directory of ned's own, searched before gcc's, makes `-lgcc_s`
//! resolve to it; libc and libm stay shared.

use std::{env, fs, path::PathBuf};

fn main() {
    let static_crt = env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|features| features.split(',').any(|f| f == "crt-static"));
    let gnu_linux = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if !gnu_linux || static_crt {
        return;
    }
    let dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("unwind");
    fs::create_dir_all(&dir).expect("create the unwinder's link directory");
    fs::write(dir.join("libgcc_s.so"), "INPUT(-lgcc_eh)\n").expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rerun-if-changed=build.rs");
}
