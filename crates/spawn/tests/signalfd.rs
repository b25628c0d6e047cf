//! SignalFd and the subreaper flag (own test binary: both change
//! process state).

use ned_spawn::{SignalFd, set_child_subreaper};

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
