//! `Rights::parse` (what `mode("...")` and `--cap ...:RIGHTS` use) takes
//! any bytes: the result always holds `r` and no bit outside `rwsdnc`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ned_core::Rights;

fuzz_target!(|data: &[u8]| {
    let r = Rights::parse(data);
    assert!(r.has(Rights::R));
    assert_eq!(r.0 & !0x3f, 0, "a bit outside rwsdnc from {data:?}");
    let n = u32::from_le_bytes([0, 1, 2, 3].map(|i| data.get(i).copied().unwrap_or(0)));
    assert!(Rights::from_bits(n).has(Rights::R));
});
