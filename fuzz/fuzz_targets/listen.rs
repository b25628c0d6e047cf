//! `ned_spawn::parse_listen` reads the `LISTEN_PID`, `LISTEN_FDS` and
//! `LISTEN_FDNAMES` a parent (another ned, systemd, anything) put in ned's
//! environment. The input is the three values separated by NUL bytes (which
//! no environment value holds); a missing one is unset. Whatever they hold:
//! nothing is adopted unless `LISTEN_PID` is ours, never more than
//! `MAX_FDS` fds, exactly `LISTEN_FDS` of them, each with a non-empty name
//! without `:` that is `LISTEN_FDNAMES`' entry for it or `fd<N>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ned_spawn::{MAX_FDS, parse_listen};

const ME: i32 = 4242;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut vars = text.split('\0');
    let (pid, fds, fdnames) = (vars.next(), vars.next(), vars.next());
    let Some(got) = parse_listen(pid, fds, fdnames, ME) else {
        return;
    };
    assert_eq!(
        pid.and_then(|p| p.parse::<i32>().ok()),
        Some(ME),
        "not ours: {pid:?}"
    );
    assert!(got.len() <= MAX_FDS);
    assert_eq!(fds.and_then(|n| n.parse::<usize>().ok()), Some(got.len()));
    let given: Vec<&str> = fdnames.unwrap_or_default().split(':').collect();
    for (i, name) in got.iter().enumerate() {
        assert!(!name.is_empty() && !name.contains(':'), "{name:?}");
        match given.get(i).filter(|g| !g.is_empty()) {
            Some(g) => assert_eq!(name, g),
            None => assert_eq!(*name, format!("fd{}", 3 + i)),
        }
    }
});
