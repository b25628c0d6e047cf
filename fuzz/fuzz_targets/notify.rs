//! `ned_core::notify::parse` takes every sd_notify datagram any process
//! sends to `NOTIFY_SOCKET`: at most one message per line, a `STATUS` never
//! spans a line, a `MAINPID` is always a positive pid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ned_core::notify::{Msg, parse};

fuzz_target!(|data: &[u8]| {
    let msgs = parse(data);
    let lines = data.split(|&b| b == b'\n').count();
    assert!(
        msgs.len() <= lines,
        "{} messages from {lines} lines",
        msgs.len()
    );
    for m in &msgs {
        match m {
            Msg::Status(s) => assert!(!s.contains('\n'), "a status spans lines: {s:?}"),
            Msg::MainPid(p) => assert!(*p > 0, "MAINPID={p}"),
            _ => {}
        }
    }
});
