//! The fd window (crates/spawn/src/window.rs): a child gets exactly its
//! fds however many the parent has open, the parent keeps no reference to
//! them after the spawn, and a plan larger than the window still starts.
//! Its own test binary: it opens hundreds of fds.

mod util;

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use ned_spawn::{Exit, Spawner, wait};
use util::*;

/// `n` close-on-exec duplicates of /dev/null, pushing later fds up.
fn ballast(n: usize) -> Vec<OwnedFd> {
    let null = devnull();
    (0..n)
        .map(|_| rustix::io::fcntl_dupfd_cloexec(&null, 0).unwrap())
        .collect()
}

/// The child's fds as `ls -l /proc/$$/fd` lists them (ls adds its own
/// directory fd, one past the plan).
fn child_fds(spawner: &mut Spawner, fds: &[BorrowedFd<'_>]) -> Vec<(i32, String)> {
    let null = devnull();
    let out = run_with(
        spawner,
        &Spec::sh("exec ls -l /proc/$$/fd"),
        null.as_fd(),
        fds,
    );
    assert_eq!(out.exit, Exit::Code(0));
    let listed = parse_ls_fds(&out.stdout);
    let last = 2 + fds.len() as i32;
    let extra: Vec<_> = listed.keys().filter(|&&fd| fd > last).collect();
    assert!(extra.len() <= 1, "stray fds: {extra:?} in {listed:?}");
    listed.into_iter().filter(|&(fd, _)| fd <= last).collect()
}

#[test]
fn a_child_gets_exactly_its_fds_with_many_open_in_the_parent() {
    let mut spawner = Spawner::new();
    let _ballast = ballast(800);
    let version = File::open("/proc/version").unwrap();
    let cpuinfo = File::open("/proc/cpuinfo").unwrap();
    let fds = child_fds(&mut spawner, &[version.as_fd(), cpuinfo.as_fd()]);
    let names: Vec<&str> = fds.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        fds.iter().map(|&(fd, _)| fd).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(names[0], "/dev/null");
    assert!(names[1].starts_with("pipe:["), "{names:?}");
    assert_eq!(&names[3..], ["/proc/version", "/proc/cpuinfo"]);
}

#[test]
fn the_spawner_keeps_no_reference_to_a_childs_fds() {
    let mut spawner = Spawner::new();
    let _ballast = ballast(100);
    let null = devnull();
    for _ in 0..3 {
        // Only the child holds the write end once we drop ours: the read
        // sees EOF at its exit, and poll says so within the timeout, unless
        // the window still held a copy.
        let (r, w) = pipe();
        let child = spawner
            .spawn(&Spec::sh("exit 0").command([null.as_fd(), w.as_fd(), null.as_fd()], &[]))
            .unwrap();
        drop(w);
        assert_eq!(wait(child.pidfd.as_fd()).unwrap(), Exit::Code(0));
        let mut pfd = [rustix::event::PollFd::new(&r, rustix::event::PollFlags::IN)];
        let timeout = rustix::event::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        assert_eq!(rustix::event::poll(&mut pfd, Some(&timeout)).unwrap(), 1);
        assert!(pfd[0].revents().contains(rustix::event::PollFlags::HUP));
    }
}

#[test]
fn a_plan_larger_than_the_window_still_starts() {
    let mut spawner = Spawner::new();
    let _ballast = ballast(50);
    let files: Vec<File> = (0..40)
        .map(|_| File::open("/proc/version").unwrap())
        .collect();
    let caps: Vec<BorrowedFd<'_>> = files.iter().map(AsFd::as_fd).collect();
    let fds = child_fds(&mut spawner, &caps);
    assert_eq!(fds.len(), 43);
    assert!(
        fds[3..].iter().all(|(_, n)| n == "/proc/version"),
        "{fds:?}"
    );
    // And the next, small plan goes through the window again.
    let one = File::open("/proc/cpuinfo").unwrap();
    let fds = child_fds(&mut spawner, &[one.as_fd()]);
    assert_eq!(fds.last().unwrap(), &(3, "/proc/cpuinfo".to_string()));
}
