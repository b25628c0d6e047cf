//! `Color::parse` (a log table's colour, by name, letter or number) takes
//! any string: a colour it returns is one of the 16 of the console.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ned_core::log::Color;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Some(Color(c)) = Color::parse(&s) {
        assert!(c < 16, "colour {c} from {s:?}");
    }
});
