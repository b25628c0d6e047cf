//! A process's whole tree: its descendants as `/proc` shows them, and
//! signalling all of them.
//!
//! ned ends a task's tree, not just its pid: a shell wrapper's `sleep` and
//! a daemon that called `setsid` (which leaves the task's process group)
//! are still descendants of the task while their parent lives, and, when
//! ned is a subreaper or PID 1, of ned once their parent died. Each
//! process is signalled through a pidfd opened after the scan, and only if
//! it still has the start time the scan saw: a pid and its start time
//! name one process, so a pid reused in between is left alone.
//!
//! Without `/proc` (an early init that has not mounted it) the scan finds
//! nothing and only the task itself and its process group are signalled.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};

/// One process in the scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Proc {
    ppid: i32,
    pgrp: i32,
    /// `starttime`, in clock ticks after boot.
    start: u64,
    /// Exited, not yet reaped: signals mean nothing to it.
    zombie: bool,
}

/// `ppid` and zombie flag from the text of `/proc/PID/stat`: the fields
/// after the command name, which ends at the last `)` (a name may itself
/// contain `)` and spaces).
fn parse_stat(stat: &str) -> Option<Proc> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    // starttime is field 22; pgrp was field 5.
    let start = fields.nth(16)?.parse().ok()?;
    Some(Proc {
        ppid,
        pgrp,
        start,
        zombie: state == "Z" || state == "X",
    })
}

fn read_proc(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Every process of `/proc` by pid.
fn scan() -> HashMap<i32, Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, read_proc(pid)?)))
        .collect()
}

/// A live descendant: its pid, the parent and process group the scan saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descendant {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    start: u64,
}

/// The live descendants of `roots` (not the roots themselves), parents
/// before children.
pub fn descendants(roots: &[i32]) -> Vec<Descendant> {
    // Every descendant hangs below a child, so a ned that has none (an
    // empty script, or all its tasks reaped) skips the walk of /proc: a
    // few hundred syscalls, most of what such a ned does when it exits.
    if roots == [rustix::process::getpid().as_raw_nonzero().get()] && !ned_spawn::has_children() {
        return Vec::new();
    }
    let procs = scan();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, p) in &procs {
        children.entry(p.ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut next: Vec<i32> = roots.to_vec();
    while let Some(parent) = next.pop() {
        for &child in children.get(&parent).into_iter().flatten() {
            if roots.contains(&child) {
                continue;
            }
            next.push(child);
            if let Some(p) = procs.get(&child).filter(|p| !p.zombie) {
                out.push(Descendant {
                    pid: child,
                    ppid: parent,
                    pgrp: p.pgrp,
                    start: p.start,
                });
            }
        }
    }
    out
}

/// Sends `sig` to every live descendant of `roots` that `skip` does not
/// exclude (those already signalled through their process group, say);
/// returns the pidfds of those signalled, which keep naming them once
/// they leave the tree (a parent that dies hands them to init). See the
/// module doc for why a reused pid is safe.
pub fn signal_descendants(
    roots: &[i32],
    sig: i32,
    mut skip: impl FnMut(&Descendant) -> bool,
) -> Vec<OwnedFd> {
    descendants(roots)
        .into_iter()
        .filter(|d| !skip(d))
        .filter_map(|d| {
            let pidfd = ned_spawn::open_pidfd(d.pid)?;
            // Checked after the pidfd pins the process: the same number
            // with another start time is another process.
            (read_proc(d.pid).is_some_and(|p| p.start == d.start)
                && ned_spawn::send_signal(pidfd.as_fd(), sig).is_ok())
            .then_some(pidfd)
        })
        .collect()
}

/// Whether the process behind `pidfd` has exited (a pidfd turns readable
/// then, child or not).
pub fn has_exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        pidfd,
        rustix::event::PollFlags::IN,
    )];
    matches!(
        rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())),
        Ok(n) if n > 0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Polls `cond` for up to 10 s (a hang guard, not a timing assertion).
    fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < end {
            if cond() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn stat_lines_with_awkward_names() {
        let tail = "42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 1234 100";
        let p = parse_stat(&format!("42 (a) b) c) S 7 40 {tail}")).unwrap();
        assert_eq!(
            p,
            Proc {
                ppid: 7,
                pgrp: 40,
                start: 1234,
                zombie: false
            }
        );
        assert!(parse_stat(&format!("9 (sh) Z 1 9 {tail}")).unwrap().zombie);
        assert_eq!(parse_stat("9 (sh) S 1 9 9"), None);
        assert_eq!(parse_stat("9 (sh) S 1"), None);
        assert_eq!(parse_stat("9 sh S 1"), None);
        assert_eq!(parse_stat("9 (sh) S"), None);
        assert_eq!(parse_stat("9 (sh) S x"), None);
    }

    #[test]
    fn a_shell_and_its_child_are_descendants_of_this_process() {
        let mut sh = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 100 & wait"])
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let sh_pid = sh.id() as i32;
        let found = wait_for(|| {
            let d = descendants(&[me]);
            d.iter().any(|d| d.pid == sh_pid && d.ppid == me) && d.iter().any(|d| d.ppid == sh_pid)
        });
        assert!(found, "sh and its sleep not found");
        assert!(signal_descendants(&[sh_pid], libc::SIGKILL, |_| true).is_empty());
        let sleep = signal_descendants(&[sh_pid], libc::SIGKILL, |_| false);
        assert_eq!(sleep.len(), 1);
        assert!(wait_for(|| has_exited(&sleep[0])));
        sh.kill().unwrap();
        sh.wait().unwrap();
        assert!(wait_for(|| descendants(&[sh_pid]).is_empty()));
    }
}
