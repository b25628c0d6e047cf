//! SignalFd, helper threads without signals and the subreaper flag (own
//! test binary: they change process state).

use ned_spawn::{SignalFd, set_child_subreaper, spawn_thread_without_signals};

#[test]
fn signalfd_reports_blocked_signals() {
    let sfd = SignalFd::new(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
    assert_eq!(sfd.read().unwrap(), None);
    // raise() is directed at this thread, the one that blocked the signals
    // (the harness's other threads did not).
    // SAFETY: raising a blocked signal only makes it pending.
    unsafe { libc::raise(libc::SIGUSR2) };
    assert_eq!(sfd.read().unwrap(), Some(libc::SIGUSR2));
    assert_eq!(sfd.read().unwrap(), None);
    let flags = rustix::io::fcntl_getfd(sfd.fd()).unwrap();
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
}

#[test]
fn signalfd_rejects_bad_signal() {
    assert!(SignalFd::new(&[0, 1000]).is_err());
}

#[test]
fn subreaper() {
    set_child_subreaper().unwrap();
    assert!(rustix::process::child_subreaper().unwrap().is_some());
}

#[test]
fn helper_threads_block_every_signal_and_the_caller_keeps_its_mask() {
    let own = || blocked_mask(&std::fs::read_to_string("/proc/thread-self/status").unwrap());
    let before = own();
    let (tx, rx) = std::sync::mpsc::channel();
    spawn_thread_without_signals("test-mask", move || {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        tx.send(status).unwrap();
    })
    .unwrap()
    .join()
    .unwrap();
    let theirs = blocked_mask(&rx.recv().unwrap());
    // Every standard signal except SIGKILL and SIGSTOP, which cannot be
    // blocked.
    for sig in 1..=31 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            assert!(
                theirs & (1 << (sig - 1)) != 0,
                "signal {sig} open: {theirs:#x}"
            );
        }
    }
    assert_eq!(own(), before, "the caller's mask changed");
}

/// `SigBlk` of a /proc status file.
fn blocked_mask(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .expect("SigBlk line")
        .trim();
    u64::from_str_radix(hex, 16).expect("hex mask")
}
