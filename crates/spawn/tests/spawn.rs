//! Starting real processes: exit codes, signals, exec errors, exact
//! environment, fd plan, LISTEN_PID, signal state, affinity and nice.

mod util;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;

use ned_spawn::{Exit, SpawnError, Spawner, send_signal, try_wait, wait};
use util::*;

#[test]
fn exit_codes() {
    assert_eq!(run(&Spec::new(&["/bin/true"])).exit, Exit::Code(0));
    assert_eq!(run(&Spec::new(&["/bin/false"])).exit, Exit::Code(1));
    assert_eq!(run(&Spec::sh("exit 7")).exit, Exit::Code(7));
    // Only the low 8 bits survive.
    assert_eq!(run(&Spec::sh("exit 300")).exit, Exit::Code(44));
}

#[test]
fn killed_by_own_signal() {
    assert_eq!(
        run(&Spec::sh("kill -TERM $$")).exit,
        Exit::Signal(libc::SIGTERM)
    );
}

#[test]
fn send_signal_try_wait_and_gone() {
    let spec = Spec::new(&["/bin/sleep", "100"]);
    let null = devnull();
    let mut spawner = Spawner::new();
    let child = spawner
        .spawn(&spec.command([null.as_fd(), null.as_fd(), null.as_fd()], &[]))
        .unwrap();
    assert!(child.pid > 0);
    assert_eq!(try_wait(child.pidfd.as_fd()).unwrap(), None);
    send_signal(child.pidfd.as_fd(), 0).unwrap();
    send_signal(child.pidfd.as_fd(), libc::SIGKILL).unwrap();
    assert_eq!(
        wait(child.pidfd.as_fd()).unwrap(),
        Exit::Signal(libc::SIGKILL)
    );
    // Reaped: signals report the distinct "gone" variant, waiting fails.
    assert!(matches!(
        send_signal(child.pidfd.as_fd(), libc::SIGTERM),
        Err(SpawnError::SignalGone { sig }) if sig == libc::SIGTERM
    ));
    assert!(matches!(
        try_wait(child.pidfd.as_fd()),
        Err(SpawnError::Wait { .. })
    ));
}

#[test]
fn bad_signal_number_is_an_error() {
    let spec = Spec::new(&["/bin/sleep", "100"]);
    let null = devnull();
    let child = Spawner::new()
        .spawn(&spec.command([null.as_fd(), null.as_fd(), null.as_fd()], &[]))
        .unwrap();
    let err = send_signal(child.pidfd.as_fd(), 1000).unwrap_err();
    assert!(
        matches!(err, SpawnError::Signal { sig: 1000, .. }),
        "{err:?}"
    );
    assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::EINVAL));
    send_signal(child.pidfd.as_fd(), libc::SIGKILL).unwrap();
    wait(child.pidfd.as_fd()).unwrap();
}

fn spawn_err(spec: &Spec) -> SpawnError {
    let null = devnull();
    Spawner::new()
        .spawn(&spec.command([null.as_fd(), null.as_fd(), null.as_fd()], &[]))
        .unwrap_err()
}

#[test]
fn exec_failure_nonexistent() {
    let err = spawn_err(&Spec::new(&["/nonexistent/ned-test"]));
    assert!(matches!(err, SpawnError::Exec { .. }), "{err:?}");
    assert_eq!(
        format!("could not create process: {err}"),
        "could not create process: /nonexistent/ned-test: No such file or directory (os error 2)"
    );
    assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::ENOENT));
}

#[test]
fn exec_failure_not_executable() {
    let path = std::env::temp_dir().join(format!("ned-spawn-noexec-{}", std::process::id()));
    std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = spawn_err(&Spec::new(&[path.to_str().unwrap()]));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::EACCES));
    assert_eq!(
        err.to_string(),
        format!("{}: Permission denied (os error 13)", path.display())
    );
}

#[test]
fn exec_failure_leaves_no_zombie() {
    // The failed child is reaped by spawn: this thread has no child left.
    // Children belong to the thread that cloned them and the harness runs
    // other tests on other threads, so only this thread's are asked for
    // (__WNOTHREAD); WNOWAIT leaves a zombie, if any, in place for the report.
    let _ = spawn_err(&Spec::new(&["/nonexistent/ned-test"]));
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: test-only; waitid writes at most one siginfo_t into `info`.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            info.as_mut_ptr(),
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT | libc::__WNOTHREAD,
        )
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: zero-initialised above and possibly filled in by waitid.
    let pid = unsafe { info.assume_init().si_pid() };
    assert_eq!(rc, -1, "a child is left: pid {pid}");
    assert_eq!(err.raw_os_error(), Some(libc::ECHILD), "{err}");
}

#[test]
fn exact_environment() {
    let out = run(&Spec::new(&["/usr/bin/env"]).env(&["A=1", "B=two words", "EMPTY="]));
    assert_eq!(out.exit, Exit::Code(0));
    assert_eq!(out.stdout, "A=1\nB=two words\nEMPTY=\n");
    assert_eq!(run(&Spec::new(&["/usr/bin/env"])).stdout, "");
}

#[test]
fn argv_as_written() {
    let out = run(&Spec::new(&[
        "/bin/sh",
        "-c",
        "printf '%s|' \"$0\" \"$@\"",
        "zero",
        "a b",
        "",
    ]));
    assert_eq!(out.stdout, "zero|a b||");
}

#[test]
fn listen_pid_is_the_childs_pid() {
    let mut spec = Spec::sh("echo \"$LISTEN_PID $$\"; env | grep -c '^LISTEN_PID='")
        .env(&["LISTEN_PID=1", "LISTEN_FDS=0"]);
    spec.listen_pid = true;
    let out = run(&spec);
    let mut lines = out.stdout.lines();
    let (env_pid, shell_pid) = lines.next().unwrap().split_once(' ').unwrap();
    assert_eq!(env_pid, shell_pid);
    assert_eq!(env_pid, out.pid.to_string());
    // The caller's stale LISTEN_PID was dropped, not duplicated.
    assert_eq!(lines.next(), Some("1"));
}

#[test]
fn listen_pid_slot_is_reused_across_spawns() {
    let mut spawner = Spawner::new();
    let null = devnull();
    let mut spec = Spec::sh("echo $LISTEN_PID");
    spec.listen_pid = true;
    for _ in 0..5 {
        let out = run_with(&mut spawner, &spec, null.as_fd(), &[]);
        assert_eq!(out.stdout.trim(), out.pid.to_string());
    }
    // Without listen_pid there is no such variable.
    let out = run_with(
        &mut spawner,
        &Spec::new(&["/usr/bin/env"]),
        null.as_fd(),
        &[],
    );
    assert_eq!(out.stdout, "");
}

/// Reads "Name:\tvalue" from /proc/<child>/status via an exec'd cat, so no
/// shell can change the state we look at.
fn status_field(spec_mod: impl FnOnce(&mut Spec), field: &str) -> String {
    let mut spec = Spec::new(&["/bin/cat", "/proc/self/status"]);
    spec_mod(&mut spec);
    let out = run(&spec);
    let prefix = format!("{field}:");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn signals_default_and_unblocked_in_child() {
    // The test process (Rust) ignores SIGPIPE; the child must not.
    assert_eq!(status_field(|_| {}, "SigIgn"), "0000000000000000");
    assert_eq!(status_field(|_| {}, "SigBlk"), "0000000000000000");
}

#[test]
fn signals_reset_even_when_parent_blocks_and_ignores() {
    // Block SIGUSR1 and ignore SIGUSR2 on this thread/process, spawn, undo.
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: test-only; initialise and apply a mask with valid pointers.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), old.as_mut_ptr());
        libc::signal(libc::SIGUSR2, libc::SIG_IGN);
    }
    let ign = status_field(|_| {}, "SigIgn");
    let blk = status_field(|_| {}, "SigBlk");
    // SAFETY: restores what was saved above.
    unsafe {
        libc::signal(libc::SIGUSR2, libc::SIG_DFL);
        libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut());
    }
    assert_eq!(ign, "0000000000000000");
    assert_eq!(blk, "0000000000000000");
}

#[test]
fn affinity_and_nice() {
    let cpus = status_field(|s| s.cpus = Some(vec![0]), "Cpus_allowed_list");
    assert_eq!(cpus, "0");
    let out = run(&{
        let mut s = Spec::sh("cut -d' ' -f19 /proc/$$/stat");
        s.nice = Some(7);
        s
    });
    assert_eq!(out.stdout.trim(), "7");
    let err = spawn_err(&{
        let mut s = Spec::new(&["/bin/true"]);
        s.cpus = Some(vec![1024]);
        s
    });
    assert!(
        matches!(err, SpawnError::CpuOutOfRange { cpu: 1024, .. }),
        "{err:?}"
    );
}

#[test]
fn child_setup_failure_is_reported() {
    // A mask naming only a CPU this machine does not have (1023 fits the
    // set, so the parent accepts it): the kernel refuses it with EINVAL,
    // for root too. The error names the step and the program.
    let err = spawn_err(&{
        let mut s = Spec::new(&["/bin/true"]);
        s.cpus = Some(vec![1023]);
        s
    });
    assert!(
        matches!(
            err,
            SpawnError::ChildSetup {
                step: "set the CPU affinity",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::EINVAL));
    assert_eq!(
        err.to_string(),
        "failed to set the CPU affinity for /bin/true"
    );
}

#[test]
fn child_fd_limit() {
    let mut spawner = Spawner::new();
    let null = devnull();
    spawner.set_child_nofile(100, 200);
    let out = run_with(
        &mut spawner,
        &Spec::new(&["/bin/cat", "/proc/self/limits"]),
        null.as_fd(),
        &[],
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        ["100", "200"]
    );
    // Above fs.nr_open (at most about 2^31) the kernel refuses, root or not.
    spawner.set_child_nofile(1 << 40, 1 << 40);
    let err = spawner
        .spawn(&Spec::new(&["/bin/true"]).command([null.as_fd(), null.as_fd(), null.as_fd()], &[]))
        .unwrap_err();
    assert!(
        matches!(
            err,
            SpawnError::ChildSetup {
                step: "set the fd limit",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::EPERM));
}

#[test]
fn setup_failure_leaves_no_zombie_and_spawner_is_reusable() {
    let mut spawner = Spawner::new();
    let null = devnull();
    let mut bad = Spec::new(&["/bin/true"]);
    bad.cpus = Some(vec![1023]);
    for _ in 0..3 {
        let err = spawner
            .spawn(&bad.command([null.as_fd(), null.as_fd(), null.as_fd()], &[]))
            .unwrap_err();
        assert!(matches!(err, SpawnError::ChildSetup { .. }), "{err:?}");
    }
    let out = run_with(&mut spawner, &Spec::sh("exit 3"), null.as_fd(), &[]);
    assert_eq!(out.exit, Exit::Code(3));
}

fn ls_fds(stdin: BorrowedFd<'_>, fds: &[BorrowedFd<'_>]) -> BTreeMap<i32, String> {
    let out = run_with(
        &mut Spawner::new(),
        &Spec::sh("exec ls -l /proc/$$/fd"),
        stdin,
        fds,
    );
    assert_eq!(out.exit, Exit::Code(0));
    parse_ls_fds(&out.stdout)
}

#[test]
fn only_the_planned_fds_survive() {
    // A non-CLOEXEC fd in the parent must not leak into the child.
    let leak = rustix::io::dup(devnull().as_fd()).unwrap();
    assert!(
        !rustix::io::fcntl_getfd(&leak)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    );
    let a = File::open("/proc/version").unwrap();
    let b = File::open("/proc/cpuinfo").unwrap();
    let null = devnull();
    let fds = ls_fds(null.as_fd(), &[a.as_fd(), b.as_fd()]);
    // `exec ls` replaces sh, so the listing is of ls's own fds: 0-4 are the
    // plan, and ls adds its directory fd (5) while reading.
    let planned: Vec<_> = fds.keys().copied().filter(|&fd| fd < 5).collect();
    assert_eq!(planned, [0, 1, 2, 3, 4]);
    assert!(fds.len() <= 6, "stray fds: {fds:?}");
    assert_eq!(fds[&0], "/dev/null");
    assert!(fds[&1].starts_with("pipe:["));
    assert_eq!(fds[&3], "/proc/version");
    assert_eq!(fds[&4], "/proc/cpuinfo");
    drop(leak);
}

#[test]
fn fd_plan_with_sources_colliding_with_targets() {
    // Our own stdin/stdout/stderr (fds 0, 1, 2) become the child's 3, 4, 5
    // in reverse order, while 0..2 get other fds: every source < 6 is also a
    // target and must be moved aside before the dup2s.
    let parent: Vec<String> = (0..3)
        // SAFETY: test-only; fds 0-2 are open for the whole test process.
        .map(|fd| target_of(unsafe { BorrowedFd::borrow_raw(fd) }))
        .collect();
    // SAFETY: as above.
    let std_fds: Vec<BorrowedFd<'_>> = (0..3)
        .rev()
        .map(|fd| unsafe { BorrowedFd::borrow_raw(fd) })
        .collect();
    let version = File::open("/proc/version").unwrap();
    let fds = ls_fds(version.as_fd(), &std_fds);
    assert_eq!(fds[&0], "/proc/version");
    assert_eq!(fds[&3], parent[2]);
    assert_eq!(fds[&4], parent[1]);
    assert_eq!(fds[&5], parent[0]);
}

#[test]
fn fd_plan_permutation_of_many_fds() {
    // Twelve files, wherever they landed, spread over as many targets as it
    // takes for every one of their fd numbers to be a target too (at least
    // 13, as the files sit on 12 distinct fds above 2): every source must be
    // moved aside before the installs, and some go to several targets.
    let dir = std::env::temp_dir().join(format!("ned-spawn-perm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<File> = (0..12)
        .map(|i| {
            let p = dir.join(format!("f{i}"));
            std::fs::write(&p, "").unwrap();
            File::open(p).unwrap()
        })
        .collect();
    let highest = files.iter().map(|f| f.as_raw_fd()).max().unwrap();
    // Targets 3..=highest+1, so every source number is below the last one.
    let caps: Vec<BorrowedFd<'_>> = (0..highest - 1)
        .map(|i| files[(i as usize * 7 + 5) % files.len()].as_fd())
        .collect();
    assert!(
        caps.iter().all(|fd| fd.as_raw_fd() < 3 + caps.len() as i32),
        "every source must collide with a target"
    );
    let expected: Vec<String> = caps.iter().map(|fd| target_of(*fd)).collect();
    let null = devnull();
    let fds = ls_fds(null.as_fd(), &caps);
    std::fs::remove_dir_all(&dir).unwrap();
    for (i, name) in expected.iter().enumerate() {
        let target = i as i32 + 3;
        assert_eq!(fds.get(&target), Some(name), "target fd {target}");
    }
    // Nothing but the plan and ls's own directory fd.
    let last = 2 + caps.len() as i32;
    let extra: Vec<_> = fds.keys().filter(|&&fd| fd > last).collect();
    assert!(extra.len() <= 1, "stray fds: {extra:?} in {fds:?}");
}

#[test]
fn spawner_is_send() {
    fn is_send<T: Send>() {}
    is_send::<Spawner>();
    let mut spawner = Spawner::new();
    std::thread::spawn(move || {
        let null = devnull();
        let out = run_with(&mut spawner, &Spec::new(&["/bin/true"]), null.as_fd(), &[]);
        assert_eq!(out.exit, Exit::Code(0));
    })
    .join()
    .unwrap();
}

#[test]
fn rlimits_reach_the_child_and_a_refused_one_is_named() {
    use ned_spawn::{Resource, Rlimit};
    let lim = |resource, soft, hard| Rlimit {
        resource,
        soft,
        hard,
    };
    let out = run(&{
        let mut s = Spec::sh("ulimit -Sn; ulimit -Hn; ulimit -c; ulimit -t");
        s.rlimits = vec![
            lim(Resource::Nofile, 40, 50),
            lim(Resource::Core, 0, 0),
            lim(Resource::Cpu, 7, 7),
        ];
        s
    });
    assert_eq!(out.stdout, "40\n50\n0\n7\n");
    // soft above hard: EINVAL for root and anyone else.
    let err = spawn_err(&{
        let mut s = Spec::new(&["/bin/true"]);
        s.rlimits = vec![lim(Resource::Nproc, 10, 5)];
        s
    });
    assert_eq!(
        err.to_string(),
        "failed to set rlimit nproc (RLIMIT_NPROC) for /bin/true"
    );
    assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::EINVAL));
}

#[test]
fn the_child_joins_a_cgroup_through_its_procs_fd() {
    // Any writable fd takes the "0": a pipe shows exactly what the child
    // wrote, and that it wrote it before exec.
    let (r, w) = pipe();
    let null = devnull();
    let spec = Spec::new(&["/bin/true"]);
    let mut cmd = spec.command([null.as_fd(), null.as_fd(), null.as_fd()], &[]);
    let procs = [w.as_fd()];
    cmd.cgroup_procs = &procs;
    let child = Spawner::new().spawn(&cmd).unwrap();
    assert_eq!(wait(child.pidfd.as_fd()).unwrap(), Exit::Code(0));
    drop(w);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut File::from(r), &mut got).unwrap();
    assert_eq!(got, "0");
    // A read-only fd cannot take it: the step is named.
    let mut cmd = spec.command([null.as_fd(), null.as_fd(), null.as_fd()], &[]);
    let procs = [null.as_fd()];
    cmd.cgroup_procs = &procs;
    let err = Spawner::new().spawn(&cmd).unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to join the task's cgroup for /bin/true"
    );
}
