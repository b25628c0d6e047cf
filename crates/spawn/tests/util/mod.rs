//! Shared helpers for the spawn integration tests: build a Command from
//! strings, run it with stdout captured through a pipe, parse `ls -l`
//! output of a /proc/<pid>/fd directory.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use ned_spawn::{Command, Exit, Spawner, wait};

pub fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}

pub fn cstrings(v: &[&str]) -> Vec<CString> {
    v.iter().map(|s| cs(s)).collect()
}

pub fn devnull() -> File {
    File::open("/dev/null").unwrap()
}

/// A close-on-exec pipe (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
}

/// Everything a test varies, with owned storage; `run` borrows it.
pub struct Spec {
    pub path: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub listen_pid: bool,
    pub cpus: Option<Vec<usize>>,
    pub nice: Option<i32>,
    pub rlimits: Vec<ned_spawn::Rlimit>,
}

impl Spec {
    pub fn new(argv: &[&str]) -> Self {
        Self {
            path: cs(argv[0]),
            argv: cstrings(argv),
            env: Vec::new(),
            listen_pid: false,
            cpus: None,
            nice: None,
            rlimits: Vec::new(),
        }
    }

    pub fn sh(script: &str) -> Self {
        Self::new(&["/bin/sh", "-c", script])
    }

    pub fn env(mut self, env: &[&str]) -> Self {
        self.env = cstrings(env);
        self
    }

    /// The Command for this spec with the given stdio and caps.
    pub fn command<'a>(
        &'a self,
        stdio: [BorrowedFd<'a>; 3],
        fds: &'a [BorrowedFd<'a>],
    ) -> Command<'a> {
        Command {
            path: &self.path,
            argv: &self.argv,
            env: &self.env,
            stdio,
            fds,
            listen_pid: self.listen_pid,
            cpus: self.cpus.as_deref(),
            nice: self.nice,
            new_group: false,
            isolation: None,
            cgroup_procs: &[],
            rlimits: &self.rlimits,
        }
    }
}

/// Output of one run: pid, exit, stdout.
pub struct Run {
    pub pid: i32,
    pub exit: Exit,
    pub stdout: String,
}

/// Runs `spec` with stdin /dev/null, stdout a pipe we read, stderr ours, and
/// `fds` as caps; waits for it.
pub fn run_with(
    spawner: &mut Spawner,
    spec: &Spec,
    stdin: BorrowedFd<'_>,
    fds: &[BorrowedFd<'_>],
) -> Run {
    let (r, w) = pipe();
    let stderr = std::io::stderr();
    let child = spawner
        .spawn(&spec.command([stdin, w.as_fd(), stderr.as_fd()], fds))
        .unwrap();
    drop(w);
    let mut stdout = String::new();
    File::from(r).read_to_string(&mut stdout).unwrap();
    let exit = wait(child.pidfd.as_fd()).unwrap();
    Run {
        pid: child.pid,
        exit,
        stdout,
    }
}

pub fn run(spec: &Spec) -> Run {
    let null = devnull();
    run_with(&mut Spawner::new(), spec, null.as_fd(), &[])
}

/// Parses `ls -l /proc/<pid>/fd` output into fd -> link target.
pub fn parse_ls_fds(out: &str) -> BTreeMap<i32, String> {
    out.lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let fd = left.rsplit(' ').next()?.parse().ok()?;
            Some((fd, target.to_string()))
        })
        .collect()
}

/// The link target of one of our own fds.
pub fn target_of(fd: BorrowedFd<'_>) -> String {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}
