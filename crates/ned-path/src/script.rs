//! Lua source files as chunk text.
//!
//! `lua5.4` (luaL_loadfilex) skips a UTF-8 byte-order mark at the start of a
//! file and then a first line starting with `#` (a shebang), keeping that
//! line's newline so the line numbers in error messages stay those of the
//! file. Every script ned loads from a file goes through [`strip_header`],
//! so the boot script, `require`d modules and Lunatik runtime scripts all
//! behave like `lua5.4 file.lua`.

use std::path::Path;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Removes a leading byte-order mark and blanks a `#` first line (its
/// newline stays). Anything else is left as it is.
pub fn strip_header(src: &mut Vec<u8>) {
    let start = if src.starts_with(BOM) { BOM.len() } else { 0 };
    let end = if src.get(start) == Some(&b'#') {
        src[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(src.len(), |n| start + n)
    } else {
        start
    };
    src.drain(..end);
}

/// Reads the Lua source at `path` (a plain path, not looked up in a
/// directory cap) and strips its header.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut src = std::fs::read(path)?;
    strip_header(&mut src);
    Ok(src)
}

#[cfg(test)]
mod tests {
    use super::strip_header;

    fn stripped(src: &[u8]) -> Vec<u8> {
        let mut v = src.to_vec();
        strip_header(&mut v);
        v
    }

    #[test]
    fn headers_go_and_line_numbers_stay() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"return 1\n", b"return 1\n"),
            (b"#!/usr/bin/ned\nerror('x')\n", b"\nerror('x')\n"),
            (b"\xEF\xBB\xBFreturn 1\n", b"return 1\n"),
            (b"\xEF\xBB\xBF#!ned\nreturn 1\n", b"\nreturn 1\n"),
            // A shebang without a newline is the whole file.
            (b"#!/usr/bin/ned", b""),
            (b"", b""),
            // Only the first line, and only a leading `#`.
            (b"x = 1\n#not a comment\n", b"x = 1\n#not a comment\n"),
            (b" #!x\n", b" #!x\n"),
            // A BOM later in the file is text; only the first is skipped.
            (b"\xEF\xBB\xBF\xEF\xBB\xBFx", b"\xEF\xBB\xBFx"),
        ];
        for (src, want) in cases {
            assert_eq!(stripped(src), want, "{:?}", String::from_utf8_lossy(src));
        }
    }

    #[test]
    fn a_long_comment_after_hash_is_not_opened() {
        // `#[[` must not become `--[[`, which would comment out the file.
        assert_eq!(stripped(b"#[[\nreturn 1\n"), b"\nreturn 1\n");
    }
}
