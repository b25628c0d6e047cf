//! `ned_proto::decode`, the object protocol's decoder (docs/protocol.md),
//! takes any message a client may send: it answers `Ok` or `Err`, never
//! panics; a message it accepts encodes back to one that decodes the same.
//! The label parser gets the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The same bytes as a connection's peer name (docs/protocol.md, "Labels").
    let _ = ned_proto::parse_label(data);
    if let Ok(m) = ned_proto::decode(data) {
        let again = ned_proto::encode(m.op, m.id, m.status, &m.values);
        let back = ned_proto::decode(&again).expect("an encoded message decodes");
        assert_eq!((back.op, back.id, back.status), (m.op, m.id, m.status));
        assert_eq!(back.values, m.values);
    }
});
