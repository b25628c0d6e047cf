//! 1000 spawns in a row leak no fd in the parent (own test binary, so no
//! other test opens fds meanwhile).

use std::os::fd::AsFd;

use ned_spawn::{Command, Exit, Spawner, wait};

fn open_fds() -> usize {
    // read_dir's own fd is counted both times, so it cancels out.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn thousand_spawns_leak_no_fd() {
    let null = std::fs::File::open("/dev/null").unwrap();
    let path = c"/bin/true";
    let argv = [c"true".to_owned()];
    let bad_argv = [c"nope".to_owned()];
    let mut spawner = Spawner::new();
    let mut before = open_fds();
    for i in 0..1000 {
        // The first spawn takes the fd window (its fds are held from then
        // on, by design): count from after it.
        if i == 1 {
            before = open_fds();
        }
        let failing = i % 10 == 9;
        let cmd = Command {
            path: if failing { c"/nonexistent/ned" } else { path },
            argv: if failing { &bad_argv } else { &argv },
            env: &[],
            stdio: [null.as_fd(), null.as_fd(), null.as_fd()],
            fds: &[null.as_fd()],
            listen_pid: true,
            cpus: None,
            nice: None,
            new_group: false,
            isolation: None,
            cgroup_procs: &[],
            rlimits: &[],
        };
        match spawner.spawn(&cmd) {
            Ok(child) => assert_eq!(wait(child.pidfd.as_fd()).unwrap(), Exit::Code(0)),
            Err(e) => assert!(failing, "{e}"),
        }
    }
    assert_eq!(open_fds(), before);
}
