//! A cgroup leaf per task with memory and pids limits, and the resource
//! limits a task gets: the Lua-free policy ([`Limits`]) and the cgroup
//! side of it ([`Cgroups`]).
//!
//! # Where the leaves go
//!
//! The hierarchies are found at first use, from `/proc/self/mountinfo` and
//! `/proc/self/cgroup`, for each controller on its own: cgroup v2 where its
//! `cgroup.controllers` lists the controller, else the v1 hierarchy mounted
//! with it (a hybrid layout, such as the v2 mount at
//! `/sys/fs/cgroup/unified` holding only `hugetlb`, gets the v1 `memory` and
//! `pids` hierarchies). In each, ned's own cgroup is the base where it is
//! writable, else the hierarchy's root; the base gets one directory of ned's
//! (`ned-<pid>`), and each task a leaf in it (`<tag>-<n>`). Where no
//! hierarchy is usable `start` fails saying why, before anything starts.
//!
//! # Joining
//!
//! ned opens each leaf's `cgroup.procs` and the child writes `0` to it
//! before anything else it does between clone and exec
//! ([`ned_spawn::Command::cgroup_procs`]), so not one instruction of the
//! program runs outside its limits. (clone3's `CLONE_INTO_CGROUP` would do
//! it in the kernel, but only for v2, and ned's spawn uses clone.)
//!
//! # The end
//!
//! When the task's process is reaped, [`Cgroups::finish`] reads what the
//! limits did (OOM kills, refused forks) for ned to report, kills what is
//! left in the leaf — the task's tree ends with it — and removes the leaf;
//! one that is not empty yet (a killed process still exiting) is removed by
//! a later [`Cgroups::sweep`]. Dropping [`Cgroups`] removes every leaf and
//! ned's own directories, so no cgroup directory outlives ned.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The resource limits [`Limits::rlimits`] holds, from the spawn crate.
pub use ned_spawn::{Resource, Rlimit, UNLIMITED};

/// What a task may use: the cgroup limits and the resource limits, as
/// the start table's `sandbox` gave them (docs/sandbox.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory the task's cgroup may charge, in bytes (swap not allowed).
    pub memory: Option<u64>,
    /// Processes and threads the task's cgroup may hold at once.
    pub pids: Option<u64>,
    /// Set in the child before exec.
    pub rlimits: Vec<Rlimit>,
}

/// Why no leaf could be made; the start fails with it.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "cgroup limits need a cgroup v2 hierarchy with the memory/pids controllers or the v1 \
         memory and pids hierarchies; none is usable here: {why}"
    )]
    Unusable { why: String },
    #[error("failed to create cgroup {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write '{value}' to {path}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "failed to enable the memory/pids controllers below {path}: cgroup v2 allows them only \
         below a cgroup without processes of its own; run ned in a cgroup of its own with them \
         delegated (e.g. systemd-run -p Delegate=yes)"
    )]
    Delegate {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The two controllers ned limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Controller {
    Memory,
    Pids,
}

impl Controller {
    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
        }
    }
}

/// One hierarchy ned makes leaves in.
#[derive(Debug)]
struct Hierarchy {
    v2: bool,
    /// Where ned's own directory goes.
    base: PathBuf,
    /// `base/ned-<pid>`, once made.
    dir: Option<PathBuf>,
}

/// The hierarchy chosen for each controller: an index into
/// `Layout::hierarchies`, or why there is none.
#[derive(Debug)]
struct Layout {
    hierarchies: Vec<Hierarchy>,
    memory: Result<usize, String>,
    pids: Result<usize, String>,
}

/// A task's leaf: one directory per hierarchy its limits need.
#[derive(Debug)]
struct Leaf {
    /// (directory, v2, memory limited here, pids limited here); removed
    /// ones leave the list.
    dirs: Vec<(PathBuf, bool, bool, bool)>,
    memory: Option<u64>,
    pids: Option<u64>,
}

/// What the limits of a task did while it ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The memory limit and how many processes the kernel killed for it.
    pub memory: Option<(u64, u64)>,
    /// The pids limit and how many forks (or clones) it refused.
    pub pids: Option<(u64, u64)>,
}

impl Report {
    /// Plain lines for ned's log about task `tag`, nothing when the limits
    /// were never hit: "web killed by SIGKILL: out of memory (cgroup memory
    /// limit 64 MiB)", "web: fork refused 3 times: pids limit 32". `sigkill`
    /// says whether the task itself died of SIGKILL (then the OOM killer is
    /// why).
    pub fn lines(&self, tag: &str, sigkill: bool) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((limit, kills)) = self.memory
            && kills > 0
        {
            let limit = size_text(limit);
            out.push(if sigkill {
                format!("{tag} killed by SIGKILL: out of memory (cgroup memory limit {limit})")
            } else {
                format!(
                    "{tag}: out of memory: the kernel killed {kills} of its processes \
                     (cgroup memory limit {limit})"
                )
            });
        }
        if let Some((limit, refused)) = self.pids
            && refused > 0
        {
            let times = if refused == 1 { "time" } else { "times" };
            out.push(format!(
                "{tag}: fork refused {refused} {times}: pids limit {limit}"
            ));
        }
        out
    }
}

/// `64 MiB`, `1 GiB`, `1536 KiB`, `1000 bytes`: the largest binary unit
/// that divides the size.
pub fn size_text(bytes: u64) -> String {
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if bytes != 0 && bytes.is_multiple_of(1 << shift) {
            return format!("{} {unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// The cgroup leaves of one ned's tasks.
#[derive(Debug, Default)]
pub struct Cgroups {
    /// Found at the first task with cgroup limits.
    layout: Option<Layout>,
    leaves: HashMap<u64, Leaf>,
    /// Leaves of ended tasks that were not empty yet.
    stale: Vec<Leaf>,
    /// Leaves made so far, for their names.
    made: u64,
}

/// How long dropping [`Cgroups`] waits for killed processes to leave
/// their leaves.
const DROP_BOUND: Duration = Duration::from_secs(2);

impl Cgroups {
    /// Makes the leaf of task `key` for `limits` and returns its
    /// `cgroup.procs` fds for the child to join; nothing (and no leaf)
    /// when the limits need no cgroup. On error nothing is left behind.
    pub fn create(
        &mut self,
        key: u64,
        tag: &str,
        limits: &Limits,
    ) -> Result<Vec<OwnedFd>, CgroupError> {
        let (memory, pids) = (limits.memory, limits.pids);
        if memory.is_none() && pids.is_none() {
            return Ok(Vec::new());
        }
        let layout = self.layout.get_or_insert_with(Layout::detect);
        let mut wanted: Vec<(usize, bool, bool)> = Vec::new();
        for (c, limit) in [(Controller::Memory, memory), (Controller::Pids, pids)] {
            if limit.is_none() {
                continue;
            }
            let index = match c {
                Controller::Memory => &layout.memory,
                Controller::Pids => &layout.pids,
            }
            .clone()
            .map_err(|why| CgroupError::Unusable { why })?;
            let (mem, pid) = (c == Controller::Memory, c == Controller::Pids);
            match wanted.iter_mut().find(|w| w.0 == index) {
                Some(w) => {
                    w.1 |= mem;
                    w.2 |= pid;
                }
                None => wanted.push((index, mem, pid)),
            }
        }
        self.made += 1;
        let name = format!("{}-{}", leaf_name(tag), self.made);
        let mut leaf = Leaf {
            dirs: Vec::new(),
            memory,
            pids,
        };
        let mut procs = Vec::new();
        for (index, mem, pid) in wanted {
            let Some(h) = layout.hierarchies.get_mut(index) else {
                continue;
            };
            // On error `leaf` is dropped here, which removes what was made.
            let dir = h.own_dir()?.join(&name);
            fs::create_dir(&dir).map_err(|source| CgroupError::Create {
                path: dir.clone(),
                source,
            })?;
            leaf.dirs.push((dir.clone(), h.v2, mem, pid));
            if mem && let Some(bytes) = memory {
                set_memory(&dir, h.v2, bytes)?;
            }
            if pid && let Some(n) = pids {
                write(&dir.join("pids.max"), &n.to_string())?;
            }
            let path = dir.join("cgroup.procs");
            let fd = rustix::fs::open(
                &path,
                rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| CgroupError::Open {
                path,
                source: e.into(),
            })?;
            procs.push(fd);
        }
        self.leaves.insert(key, leaf);
        Ok(procs)
    }

    /// Task `key` has ended (its process reaped, or it never started):
    /// what its limits did, and its leaf goes. `None` for a task without one.
    pub fn finish(&mut self, key: u64) -> Option<Report> {
        let mut leaf = self.leaves.remove(&key)?;
        let report = leaf.report();
        if !leaf.remove() {
            self.stale.push(leaf);
        }
        Some(report)
    }

    /// Removes the leaves of ended tasks that have emptied since.
    pub fn sweep(&mut self) {
        if !self.stale.is_empty() {
            self.stale.retain_mut(|l| !l.remove());
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        self.stale.extend(self.leaves.drain().map(|(_, l)| l));
        let end = Instant::now() + DROP_BOUND;
        loop {
            self.sweep();
            if self.stale.is_empty() || Instant::now() >= end {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for leaf in &self.stale {
            for (dir, ..) in &leaf.dirs {
                crate::diag!("ned: cgroup {} is not empty: left behind", dir.display());
            }
        }
        self.stale.clear();
        let dirs = self.layout.iter().flat_map(|l| &l.hierarchies);
        for dir in dirs.filter_map(|h| h.dir.as_ref()) {
            if let Err(e) = fs::remove_dir(dir) {
                crate::diag!("ned: failed to remove cgroup {}: {e}", dir.display());
            }
        }
    }
}

impl Leaf {
    fn report(&self) -> Report {
        let mut r = Report::default();
        for (dir, v2, mem, pids) in &self.dirs {
            if *mem && let Some(limit) = self.memory {
                // v1 has oom_kill in memory.oom_control since Linux 4.13.
                let (file, key) = if *v2 {
                    ("memory.events", "oom_kill")
                } else {
                    ("memory.oom_control", "oom_kill")
                };
                r.memory = Some((limit, counter(&dir.join(file), key)));
            }
            if *pids && let Some(limit) = self.pids {
                r.pids = Some((limit, counter(&dir.join("pids.events"), "max")));
            }
        }
        r
    }

    /// Kills what is left in the leaf and removes its directories; false
    /// while one is not empty yet.
    fn remove(&mut self) -> bool {
        self.dirs.retain(|(dir, ..)| {
            kill_members(dir);
            match fs::remove_dir(dir) {
                Ok(()) => false,
                Err(e) if e.kind() == io::ErrorKind::NotFound => false,
                Err(_) => true,
            }
        });
        self.dirs.is_empty()
    }
}

impl Drop for Leaf {
    fn drop(&mut self) {
        self.remove();
    }
}

impl Hierarchy {
    /// `base/ned-<pid>`, made (and, in v2, given the controllers for its
    /// leaves) at first use.
    fn own_dir(&mut self) -> Result<&Path, CgroupError> {
        if self.dir.is_none() {
            let dir = self.base.join(format!("ned-{}", std::process::id()));
            if self.v2 {
                // A controller reaches a cgroup only when its parent's
                // subtree_control has it: the base for ned's directory,
                // ned's directory for the leaves (cgroup-v2.rst, "Enabling
                // and Disabling"). Both as available.
                enable_controllers(&self.base)?;
            }
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => return Err(CgroupError::Create { path: dir, source }),
            }
            if self.v2
                && let Err(e) = enable_controllers(&dir)
            {
                let _ = fs::remove_dir(&dir);
                return Err(e);
            }
            self.dir = Some(dir);
        }
        Ok(self.dir.as_deref().unwrap_or(&self.base))
    }
}

/// Adds memory and pids (those `cgroup.controllers` offers) to
/// `dir/cgroup.subtree_control`, where not there yet.
fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let offered = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let on = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let mut add = String::new();
    for c in ["memory", "pids"] {
        if has_word(&offered, c) && !has_word(&on, c) {
            let _ = write!(add, "+{c} ");
        }
    }
    if add.is_empty() {
        return Ok(());
    }
    match write(&dir.join("cgroup.subtree_control"), add.trim_end()) {
        Err(CgroupError::Write { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
            Err(CgroupError::Delegate {
                path: dir.to_owned(),
                source,
            })
        }
        other => other,
    }
}

/// Sets the memory limit with no swap beyond it.
fn set_memory(dir: &Path, v2: bool, bytes: u64) -> Result<(), CgroupError> {
    let value = bytes.to_string();
    if v2 {
        write(&dir.join("memory.max"), &value)?;
        // Without swap accounting (or swap) these files are absent.
        let swap = dir.join("memory.swap.max");
        if swap.exists() {
            write(&swap, "0")?;
        }
        // The OOM killer takes the whole task, not one process of it.
        let group = dir.join("memory.oom.group");
        if group.exists() {
            write(&group, "1")?;
        }
    } else {
        write(&dir.join("memory.limit_in_bytes"), &value)?;
        // memory+swap, which must not be below the memory limit: set second.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write(&memsw, &value)?;
        }
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    fs::write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_owned(),
        value: value.to_owned(),
        source,
    })
}

/// Kills every process in the cgroup at `dir`. Without `cgroup.kill`, a pid read from
/// `cgroup.procs` is pinned with a pidfd and signalled only if the file
/// still lists it after that, so a pid reused meanwhile by a process
/// outside the cgroup is never hit.
fn kill_members(dir: &Path) {
    // v2 since Linux 5.14 kills the whole cgroup in the kernel, forks in
    // flight included.
    let kill = dir.join("cgroup.kill");
    if kill.exists() && fs::write(&kill, "1").is_ok() {
        return;
    }
    let procs = dir.join("cgroup.procs");
    let pids = |procs: &Path| -> Vec<i32> {
        fs::read_to_string(procs)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    };
    let pinned: Vec<(i32, OwnedFd)> = pids(&procs)
        .into_iter()
        .filter_map(|pid| ned_spawn::open_pidfd(pid).map(|fd| (pid, fd)))
        .collect();
    if pinned.is_empty() {
        return;
    }
    let still = pids(&procs);
    for (pid, fd) in &pinned {
        if still.contains(pid) {
            let _ = ned_spawn::send_signal(std::os::fd::AsFd::as_fd(fd), libc::SIGKILL);
        }
    }
}

/// The number after `key` in a flat-keyed cgroup file (`oom_kill 1`);
/// 0 when the file or key is missing.
fn counter(path: &Path, key: &str) -> u64 {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

fn has_word(list: &str, word: &str) -> bool {
    list.split_whitespace().any(|w| w == word)
}

/// A tag as a directory name: letters, digits, `-`, `_` and `.` kept,
/// anything else `_`, at most 64 bytes; `task` for an empty one.
fn leaf_name(tag: &str) -> String {
    let name: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "task".to_owned()
    } else {
        name
    }
}

/// One cgroup mount from mountinfo.
#[derive(Debug, PartialEq, Eq)]
struct Mount {
    /// The root of the mount inside the cgroup tree.
    root: String,
    point: PathBuf,
    v2: bool,
    /// v1: the controllers from the super options.
    controllers: Vec<String>,
}

/// The cgroup mounts in `/proc/self/mountinfo` text (proc(5)): fields
/// 4 (root) and 5 (mount point), and after the ` - ` separator the type
/// and the super options.
fn cgroup_mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let head: Vec<&str> = head.split(' ').collect();
            let mut tail = tail.split(' ');
            let fstype = tail.next()?;
            let _source = tail.next()?;
            let options = tail.next().unwrap_or("");
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            Some(Mount {
                root: unescape(head.get(3)?),
                point: PathBuf::from(unescape(head.get(4)?)),
                v2,
                controllers: if v2 {
                    Vec::new()
                } else {
                    options.split(',').map(str::to_owned).collect()
                },
            })
        })
        .collect()
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(c) => {
                out.push(c);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// ned's own cgroup in `/proc/self/cgroup` text (cgroups(7)): for v2
/// (`controller == None`) the `0::` line, for v1 the line naming the
/// controller.
fn own_cgroup(text: &str, controller: Option<&str>) -> Option<String> {
    text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (id, list, path) = (f.next()?, f.next()?, f.next()?);
        let hit = match controller {
            None => id == "0" && list.is_empty(),
            Some(c) => list.split(',').any(|x| x == c),
        };
        hit.then(|| path.to_owned())
    })
}

/// Where ned's directory goes in `mount`: ned's own cgroup there when it is
/// writable, else the mount's root; or why neither is.
fn base_in(mount: &Mount, own: Option<&str>) -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    if let Some(own) = own
        && let Some(rest) = own.strip_prefix(mount.root.trim_end_matches('/'))
    {
        tried.push(mount.point.join(rest.trim_start_matches('/')));
    }
    if !tried.contains(&mount.point) {
        tried.push(mount.point.clone());
    }
    let mut why = String::new();
    for dir in &tried {
        match rustix::fs::access(dir, rustix::fs::Access::WRITE_OK) {
            Ok(()) => return Ok(dir.clone()),
            Err(e) => {
                if !why.is_empty() {
                    why.push_str(", ");
                }
                let _ = write!(
                    why,
                    "{} is not writable ({})",
                    dir.display(),
                    io::Error::from(e)
                );
            }
        }
    }
    let uid = rustix::process::geteuid().as_raw();
    Err(format!("{why} for uid {uid}"))
}

impl Layout {
    fn detect() -> Layout {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Layout::from(&cgroup_mounts(&mountinfo), &own)
    }

    /// The layout for these mounts and this `/proc/self/cgroup`.
    fn from(mounts: &[Mount], own: &str) -> Layout {
        let mut layout = Layout {
            hierarchies: Vec::new(),
            memory: Err(String::new()),
            pids: Err(String::new()),
        };
        for c in [Controller::Memory, Controller::Pids] {
            let found = layout.find(mounts, own, c);
            match c {
                Controller::Memory => layout.memory = found,
                Controller::Pids => layout.pids = found,
            }
        }
        layout
    }

    /// The hierarchy for controller `c`: v2 first, then v1; or why none.
    fn find(&mut self, mounts: &[Mount], own: &str, c: Controller) -> Result<usize, String> {
        let name = c.name();
        let mut why = Vec::new();
        for m in mounts.iter().filter(|m| m.v2) {
            let own = own_cgroup(own, None);
            let base = base_in(m, own.as_deref());
            let dir = base.as_ref().map_or(&m.point, |b| b);
            let offered = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            if !has_word(&offered, name) {
                let list = offered.split_whitespace().collect::<Vec<_>>().join(" ");
                let list = if list.is_empty() { "none".into() } else { list };
                why.push(format!(
                    "cgroup2 at {} has no {name} controller (it has: {list})",
                    m.point.display()
                ));
                continue;
            }
            match base {
                Ok(base) => return Ok(self.hierarchy(true, base)),
                Err(e) => why.push(format!("cgroup2 at {}: {e}", m.point.display())),
            }
        }
        match mounts
            .iter()
            .find(|m| !m.v2 && m.controllers.iter().any(|x| x == name))
        {
            Some(m) => match base_in(m, own_cgroup(own, Some(name)).as_deref()) {
                Ok(base) => return Ok(self.hierarchy(false, base)),
                Err(e) => why.push(format!("v1 {name} at {}: {e}", m.point.display())),
            },
            None => why.push(format!("no v1 {name} hierarchy is mounted")),
        }
        Err(why.join("; "))
    }

    /// The index of the hierarchy with this base, added if new.
    fn hierarchy(&mut self, v2: bool, base: PathBuf) -> usize {
        if let Some(i) = self.hierarchies.iter().position(|h| h.base == base) {
            return i;
        }
        self.hierarchies.push(Hierarchy {
            v2,
            base,
            dir: None,
        });
        self.hierarchies.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/un\\040ified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mounts_and_own_cgroups_are_parsed() {
        let m = cgroup_mounts(HYBRID);
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].controllers, ["rw", "cpu", "cpuacct"]);
        assert_eq!(m[1].point, Path::new("/sys/fs/cgroup/memory"));
        assert!(m[3].v2);
        assert_eq!(m[3].point, Path::new("/sys/fs/cgroup/un ified"));
        let own = "8:pids:/\n4:memory:/a/b\n2:cpu,cpuacct:/\n0::/x.slice\n";
        assert_eq!(own_cgroup(own, Some("memory")).as_deref(), Some("/a/b"));
        assert_eq!(own_cgroup(own, Some("cpuacct")).as_deref(), Some("/"));
        assert_eq!(own_cgroup(own, None).as_deref(), Some("/x.slice"));
        assert_eq!(own_cgroup("4:memory:/a\n", None), None);
    }

    #[test]
    fn nothing_mounted_says_so_for_each_controller() {
        let layout = Layout::from(&[], "");
        assert_eq!(
            layout.memory.unwrap_err(),
            "no v1 memory hierarchy is mounted"
        );
        assert_eq!(layout.pids.unwrap_err(), "no v1 pids hierarchy is mounted");
        assert!(layout.hierarchies.is_empty());
    }

    #[test]
    fn reports_read_plainly() {
        let r = Report {
            memory: Some((64 << 20, 1)),
            pids: Some((32, 3)),
        };
        assert_eq!(
            r.lines("web", true),
            [
                "web killed by SIGKILL: out of memory (cgroup memory limit 64 MiB)",
                "web: fork refused 3 times: pids limit 32"
            ]
        );
        assert_eq!(
            r.lines("web", false)[0],
            "web: out of memory: the kernel killed 1 of its processes (cgroup memory limit 64 MiB)"
        );
        let quiet = Report {
            memory: Some((1 << 30, 0)),
            pids: Some((32, 0)),
        };
        assert!(quiet.lines("web", true).is_empty());
        assert_eq!(size_text(1536 << 10), "1536 KiB");
        assert_eq!(size_text(1000), "1000 bytes");
        assert_eq!(size_text(0), "0 bytes");
    }

    #[test]
    fn tags_become_safe_directory_names() {
        assert_eq!(leaf_name("web"), "web");
        assert_eq!(leaf_name("a/../b c"), "a_.._b_c");
        assert_eq!(leaf_name(".."), "task");
        assert_eq!(leaf_name(""), "task");
        assert_eq!(leaf_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn counters_are_read_by_key() {
        let dir = std::env::temp_dir().join(format!("ned-cg-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("memory.oom_control");
        fs::write(&f, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        assert_eq!(counter(&f, "oom_kill"), 2);
        assert_eq!(counter(&f, "max"), 0);
        assert_eq!(counter(&dir.join("absent"), "max"), 0);
        fs::remove_dir_all(&dir).unwrap();
    }
}
