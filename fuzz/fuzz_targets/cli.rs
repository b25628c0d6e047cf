//! ned's command-line parser (crates/ned/src/cli.rs, compiled in here as
//! it is in the binary) takes any argv: the input is split at NUL bytes
//! into arguments; the parser answers options or a usage error, never
//! panics.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/ned/src/cli.rs"]
#[allow(dead_code)]
mod cli;

fuzz_target!(|data: &[u8]| {
    let argv: Vec<OsString> = data
        .split(|b| *b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let _ = cli::parse(argv);
});
