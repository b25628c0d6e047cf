//! `spawn_many N PROGRAM [ARGS...]`: ned-spawn's side of the start
//! benchmark, the counterpart of `bench`'s `spawn-baseline` (posix_spawn).
//! Same shape — N starts back to back, at most 64 alive, empty environment —
//! plus what ned does for every task: stdio from /dev/null, one cap, the fd
//! plan with close_range, default signals and LISTEN_PID. Children are reaped
//! oldest first through their pidfds.
//!
//! Prints `processes=N seconds=S per_process_us=U failed=F`.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::AsFd;
use std::time::Instant;

use ned_spawn::{Child, Command, Exit, Spawner, wait};

const IN_FLIGHT: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(n), Some(_)) = (
        args.first().and_then(|n| n.parse::<usize>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: spawn_many N PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    let argv = args[1..]
        .iter()
        .map(|a| CString::new(a.as_str()))
        .collect::<Result<Vec<_>, _>>()?;
    let null = std::fs::File::open("/dev/null")?;
    let env = [c"LISTEN_FDS=1".to_owned()];
    let mut spawner = Spawner::new();
    let mut alive: VecDeque<Child> = VecDeque::with_capacity(IN_FLIGHT);
    let mut failed = 0usize;
    let reap = |child: Child| usize::from(!matches!(wait(child.pidfd.as_fd()), Ok(Exit::Code(0))));

    let start = Instant::now();
    for _ in 0..n {
        if alive.len() == IN_FLIGHT {
            failed += alive.pop_front().map_or(0, reap);
        }
        let cmd = Command {
            path: &argv[0],
            argv: &argv,
            env: &env,
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
            Ok(child) => alive.push_back(child),
            Err(e) => {
                if failed == 0 {
                    eprintln!("spawn_many: {e}");
                }
                failed += 1;
            }
        }
    }
    failed += alive.into_iter().map(reap).sum::<usize>();
    let secs = start.elapsed().as_secs_f64();
    let per_us = if n == 0 { 0.0 } else { secs * 1e6 / n as f64 };
    println!("processes={n} seconds={secs:.6} per_process_us={per_us:.2} failed={failed}");
    Ok(())
}
