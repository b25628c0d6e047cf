//! What a task writes to its stdout or stderr, as ned's log multiplexer
//! frames and renders it (`ned_core::log::Lines`, `ned_core::logfmt`). The
//! input's first byte picks the longest line (1 to 64 bytes, in place of
//! the real 64 KiB, so that cutting is reached), its second where the rest
//! is cut into reads. The lines must be exactly the task's bytes split at
//! each `\n`, each cut into pieces of the longest line — wherever the reads
//! end. Each line's JSON record must parse and give back its bytes; each
//! line as a terminal shows it must hold no control character but tab and
//! no escape sequence but SGR colour.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ned_core::log::Lines;
use ned_core::logfmt::{json_str, needs_term_escape, term_escape};

fuzz_target!(|data: &[u8]| {
    let [max, step, input @ ..] = data else {
        return;
    };
    let max = usize::from(max % 64) + 1;
    let mut lines = Lines::new(max);
    let mut got: Vec<Vec<u8>> = Vec::new();
    // Reads of 1, 2, ... bytes up to `step`, round again.
    let (mut rest, mut n) = (input, 0);
    while !rest.is_empty() {
        n = n % usize::from(*step).max(1) + 1;
        let (read, tail) = rest.split_at(n.min(rest.len()));
        lines.feed(read, |l| got.push(l.to_vec()));
        rest = tail;
    }
    lines.finish(|l| got.push(l.to_vec()));

    let mut want: Vec<Vec<u8>> = Vec::new();
    let mut split: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = split.pop().unwrap_or_default();
    for l in split {
        if l.is_empty() {
            want.push(Vec::new());
        }
        want.extend(l.chunks(max).map(<[u8]>::to_vec));
    }
    want.extend(last.chunks(max).map(<[u8]>::to_vec));
    assert_eq!(got, want, "max {max}, reads up to {step}");

    for l in &got {
        json_round_trip(l);
        let mut shown = Vec::new();
        if needs_term_escape(l) {
            term_escape(l, &mut shown);
        } else {
            shown.extend_from_slice(l);
        }
        assert_terminal_safe(&shown);
    }
});

/// The record ned prints for `line` in JSON mode parses and holds it.
fn json_round_trip(line: &[u8]) {
    let rec = ned_core::log::print_record(line);
    assert_eq!(rec.last(), Some(&b'\n'));
    let v: serde_json::Value = serde_json::from_slice(&rec)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&rec)));
    match (v["line"].as_str(), v["line_b64"].as_str()) {
        (Some(s), None) => assert_eq!(s.as_bytes(), line),
        (None, Some(b)) => {
            assert!(std::str::from_utf8(line).is_err());
            assert_eq!(unbase64(b), line);
        }
        _ => panic!("neither line nor line_b64: {v}"),
    }
    // A tag (the lossy text of the line, as a script could choose it).
    let text = String::from_utf8_lossy(line);
    let mut tag = b"{\"tag\":\"".to_vec();
    json_str(&text, &mut tag);
    tag.extend_from_slice(b"\"}");
    let v: serde_json::Value = serde_json::from_slice(&tag).expect("a JSON tag");
    assert_eq!(v["tag"].as_str(), Some(&*text));
}

fn unbase64(s: &str) -> Vec<u8> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert_eq!(s.len() % 4, 0, "{s}");
    let mut out = Vec::new();
    for quad in s.as_bytes().chunks(4) {
        let pad = quad.iter().filter(|&&c| c == b'=').count();
        assert!(
            pad <= 2 && quad[..4 - pad].iter().all(|&c| c != b'='),
            "{s}"
        );
        let n = quad[..4 - pad].iter().enumerate().fold(0u32, |n, (i, c)| {
            let d = B64.iter().position(|b| b == c).expect("a base64 digit") as u32;
            n | d << (18 - 6 * i)
        });
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    out
}

/// No C0 control but tab, no DEL, no UTF-8 C1 control, and every ESC the
/// start of `ESC [ <digits ; :> m`.
fn assert_terminal_safe(shown: &[u8]) {
    let mut i = 0;
    while i < shown.len() {
        let c = shown[i];
        if c == 0x1b {
            let params = shown[i + 1..]
                .iter()
                .skip(1)
                .take_while(|c| c.is_ascii_digit() || **c == b';' || **c == b':')
                .count();
            assert!(
                shown.get(i + 1) == Some(&b'[') && shown.get(i + 2 + params) == Some(&b'm'),
                "an escape sequence reaches the terminal: {shown:?}"
            );
            i += 3 + params;
            continue;
        }
        assert!(
            c >= 0x20 || c == b'\t',
            "control {c:#x} reaches the terminal: {shown:?}"
        );
        assert!(c != 0x7f, "DEL reaches the terminal: {shown:?}");
        let c1 = c == 0xc2 && shown.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n));
        assert!(!c1, "a C1 control reaches the terminal: {shown:?}");
        i += 1;
    }
}
