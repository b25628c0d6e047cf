//! The control protocol's frame parser (`ned --control`, `L4.server_loop`;
//! docs/prompt.md) takes whatever a client sends, cut at any point. The
//! input's first byte picks where the rest is cut into pieces. Every request
//! taken is at most `MAX_CHUNK` bytes; what the parser queues for the client
//! is a sequence of whole reply frames with a negative status.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ned_core::control::{HEADER, MAX_CHUNK, REPLY, parse_pieces};

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let (requests, out) = parse_pieces(rest.chunks(step));
    for r in &requests {
        assert!(r.len() <= MAX_CHUNK);
    }
    let mut o = &out[..];
    while !o.is_empty() {
        assert!(
            o.len() >= HEADER + 4 && o[0] == REPLY,
            "a cut reply: {out:?}"
        );
        let len = u32::from_le_bytes([o[1], o[2], o[3], o[4]]) as usize;
        assert!(o.len() >= HEADER + len && len >= 4, "a cut reply: {out:?}");
        let status = i32::from_le_bytes([o[5], o[6], o[7], o[8]]);
        assert!(status < 0, "a parser reply with status {status}");
        o = &o[HEADER + len..];
    }
});
