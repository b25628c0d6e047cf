//! The pieces log records are rendered from: timestamps (RFC 3339 UTC with
//! milliseconds, or monotonic seconds since boot), JSON string escaping with
//! a lossless fallback for bytes that are not UTF-8, and the escaping that
//! keeps a task from driving the operator's terminal.
//!
//! JSON: a line that is valid UTF-8 is a JSON string (`"line"`); one that is
//! not is carried as standard base64 of its raw bytes (`"line_b64"`), so
//! every byte comes back exactly. Terminal escaping: every C0 control but
//! tab, DEL, the UTF-8 encoded C1 controls (U+0080..U+009F) and every escape
//! sequence other than SGR colour (`ESC [ digits;: m`) is shown as `\xNN`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Which clock stamps a line, if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Time {
    #[default]
    Off,
    /// RFC 3339 UTC with milliseconds: `2026-12-02T01:15:02.123Z`.
    Utc,
    /// Seconds since boot (CLOCK_MONOTONIC) with milliseconds: `8123.456`.
    Mono,
}

impl Time {
    /// `"utc"`, `"mono"` or `"off"`.
    pub fn parse(s: &str) -> Option<Time> {
        match s {
            "utc" => Some(Time::Utc),
            "mono" => Some(Time::Mono),
            "off" => Some(Time::Off),
            _ => None,
        }
    }

    /// The current time in this clock's text form; empty when off.
    pub fn now(self, out: &mut Vec<u8>) {
        match self {
            Time::Off => {}
            Time::Utc => {
                let d = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                rfc3339(d.as_secs(), d.subsec_millis(), out);
            }
            Time::Mono => {
                let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
                let ms = t.tv_nsec / 1_000_000;
                out.extend_from_slice(format!("{}.{ms:03}", t.tv_sec).as_bytes());
            }
        }
    }
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn rfc3339(secs: u64, millis: u32, out: &mut Vec<u8>) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil(days);
    out.extend_from_slice(
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
        .as_bytes(),
    );
}

/// The proleptic Gregorian date `days` after 1970-01-01: counted in
/// 400-year eras from 0000-03-01, so that a leap day ends each year.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Appends `s` as the inside of a JSON string.
pub fn json_str(s: &str, out: &mut Vec<u8>) {
    let b = s.as_bytes();
    if !b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\') {
        out.extend_from_slice(b);
        return;
    }
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
}

/// Appends `"line":"..."`, or `"line_b64":"..."` when `line` is not UTF-8.
pub fn json_line(line: &[u8], out: &mut Vec<u8>) {
    match std::str::from_utf8(line) {
        Ok(s) => {
            out.extend_from_slice(b"\"line\":\"");
            json_str(s, out);
        }
        Err(_) => {
            out.extend_from_slice(b"\"line_b64\":\"");
            base64(line, out);
        }
    }
    out.push(b'"');
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64(data: &[u8], out: &mut Vec<u8>) {
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// Whether `line` holds anything [`term_escape`] would change.
pub fn needs_term_escape(line: &[u8]) -> bool {
    line.iter()
        .any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f || c == 0xc2)
}

/// Appends `line` with everything but text, tab and SGR colour sequences
/// shown as `\xNN`.
pub fn term_escape(line: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        if c == 0x1b
            && let Some(len) = sgr_len(&line[i..])
        {
            out.extend_from_slice(&line[i..i + len]);
            i += len;
            continue;
        }
        if c == 0xc2 && line.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n)) {
            out.extend_from_slice(format!("\\xc2\\x{:02x}", line[i + 1]).as_bytes());
            i += 2;
            continue;
        }
        if (c < 0x20 && c != b'\t') || c == 0x7f {
            out.extend_from_slice(format!("\\x{c:02x}").as_bytes());
        } else {
            out.push(c);
        }
        i += 1;
    }
}

/// The length of the SGR sequence `s` starts with, if it starts with one.
fn sgr_len(s: &[u8]) -> Option<usize> {
    if s.get(1) != Some(&b'[') {
        return None;
    }
    let params = s[2..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || **c == b';' || **c == b':')
        .count();
    (s.get(2 + params) == Some(&b'm')).then_some(3 + params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn utc_dates() {
        assert_eq!(s(|o| rfc3339(0, 0, o)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            s(|o| rfc3339(951_782_400 + 3661, 7, o)),
            "2000-02-29T01:01:01.007Z"
        );
        assert_eq!(
            s(|o| rfc3339(1_796_000_000, 999, o)),
            "2026-11-30T00:53:20.999Z"
        );
        let now = s(|o| Time::Utc.now(o));
        assert_eq!(now.len(), 24, "{now}");
        assert!(s(|o| Time::Mono.now(o)).contains('.'));
        assert_eq!(s(|o| Time::Off.now(o)), "");
    }

    #[test]
    fn json_strings_and_lossless_bytes() {
        assert_eq!(
            s(|o| json_line(b"a\"b\\c\td\x01", o)),
            r#""line":"a\"b\\c\td\u0001""#
        );
        assert_eq!(
            s(|o| json_line(b"caf\xc3\xa9", o)),
            "\"line\":\"caf\u{e9}\""
        );
        assert_eq!(s(|o| json_line(b"\xff\x00a", o)), r#""line_b64":"/wBh""#);
        assert_eq!(s(|o| base64(b"ab", o)), "YWI=");
        assert_eq!(s(|o| base64(b"a", o)), "YQ==");
        assert_eq!(s(|o| base64(b"", o)), "");
    }

    #[test]
    fn terminal_escaping_keeps_colour_only() {
        let raw = b"\x1b[1;31mred\x1b[0m \x1b]0;title\x07 \x1b[2J\r\x08\tt\xc2\x9b\xc3\xa9";
        assert!(needs_term_escape(raw));
        assert!(!needs_term_escape(b"plain\ttext \xc3\xa9"));
        assert_eq!(
            s(|o| term_escape(raw, o)),
            "\x1b[1;31mred\x1b[0m \\x1b]0;title\\x07 \\x1b[2J\\x0d\\x08\tt\\xc2\\x9b\u{e9}"
        );
    }
}
