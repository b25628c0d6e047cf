//! A task's sandbox (`sandbox = ...` in the start table, docs/sandbox.md):
//! the Lua-free policy, [`Sandbox`], and its preparation, [`Sandbox::prepare`],
//! into what the spawn crate's child applies with raw system calls — clone
//! flags, id maps, a Landlock ruleset fd and a compiled seccomp program.
//!
//! Everything that can fail for a reason the script can fix (uid without
//! root, namespaces without a user namespace as non-root, no Landlock in the
//! kernel) fails here, in ned, with a message naming the option, before any
//! process exists; what only the child can find out comes back from it
//! naming the step (`ned_spawn::SpawnError::ChildSetup`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::OnceLock;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, Scope,
};

use crate::cap::{Cap, Object};
use crate::rights::Rights;

mod bpf;

/// What confines one task. `Default` confines nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// New namespaces: user, mount, PID, network, IPC, UTS.
    pub user: bool,
    pub mount: bool,
    pub pid: bool,
    pub net: bool,
    pub ipc: bool,
    pub uts: bool,
    /// `PR_SET_NO_NEW_PRIVS`: no set-uid, set-gid or file capability gains
    /// privilege across the task's execs. Where the child can (root, or a
    /// new user namespace), the capability bounding set is emptied too, so
    /// even a root task runs without capabilities.
    pub no_new_privs: bool,
    /// A Landlock ruleset: the file system only through the granted
    /// directory and file caps (read-only without `w`), the program itself
    /// readable and executable, no TCP bind or connect, and abstract Unix
    /// sockets and signals scoped to the task's own domain.
    pub landlock: bool,
    /// With `landlock`: also read and execute, never write, the system
    /// directories of [`SYSTEM_DIRS`] and the loader cache, so dynamically
    /// linked programs run.
    pub system: bool,
    /// A seccomp allow-list.
    pub seccomp: Option<Seccomp>,
    /// Run as this uid / gid (ned must be root).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// The seccomp presets, by the name a script gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seccomp {
    /// What ordinary programs call, without what changes the system or
    /// other processes (see [`ALLOWED_BY_DEFAULT`]); everything else fails
    /// with EPERM.
    Default,
}

impl Seccomp {
    /// Every preset's name, for error messages.
    pub const NAMES: &'static str = "\"default\"";

    pub fn from_name(name: &str) -> Option<Seccomp> {
        match name {
            "default" => Some(Seccomp::Default),
            _ => None,
        }
    }
}

/// Read and execute for programs that need the system's libraries.
/// `/etc` is not among them: it holds `passwd` and the rest of the
/// machine's configuration; only its loader cache is added.
pub const SYSTEM_DIRS: [&str; 6] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"];
/// Files added with [`SYSTEM_DIRS`], read only.
pub const SYSTEM_FILES: [&str; 1] = ["/etc/ld.so.cache"];

/// The Landlock ABI whose rights ned asks for; an older kernel enforces
/// what it knows (best effort), a kernel without Landlock is an error.
const LANDLOCK_ABI: ABI = ABI::V9;

/// Deepest namespace nesting walked for directory and file caps.
const MAX_DEPTH: usize = 32;

/// Why a sandbox cannot be set up, found in ned before any process exists.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox: {what} needs ned to run as root")]
    NeedsRoot { what: &'static str },
    #[error("sandbox: {0}")]
    Invalid(&'static str),
    #[error("sandbox: failed to build the Landlock ruleset")]
    Landlock(#[source] landlock::RulesetError),
    #[error("sandbox: Landlock is not enabled in this kernel (Linux 5.13 or later, lsm=landlock)")]
    NoLandlock,
    #[error("sandbox: failed to compile the seccomp filter: {0}")]
    Seccomp(&'static str),
}

/// A sandbox made ready for one spawn: owns the ruleset fd and the BPF
/// program that [`Prepared::isolation`] lends to the spawn crate.
#[derive(Debug)]
pub struct Prepared {
    namespaces: i32,
    ids: Option<(u32, u32)>,
    map: Option<(u32, u32)>,
    no_new_privs: bool,
    drop_capabilities: bool,
    landlock: Option<OwnedFd>,
    seccomp: Option<&'static [libc::sock_filter]>,
}

impl Prepared {
    pub fn isolation(&self) -> ned_spawn::Isolation<'_> {
        ned_spawn::Isolation {
            namespaces: self.namespaces,
            ids: self.ids,
            map: self.map,
            no_new_privs: self.no_new_privs,
            drop_capabilities: self.drop_capabilities,
            landlock: self.landlock.as_ref().map(AsFd::as_fd),
            seccomp: self.seccomp,
        }
    }
}

impl Sandbox {
    /// `sandbox = "strict"`: every namespace, `no_new_privs`, Landlock with
    /// only the granted caps, the default seccomp allow-list.
    pub fn strict() -> Sandbox {
        Sandbox {
            user: true,
            mount: true,
            pid: true,
            net: true,
            ipc: true,
            uts: true,
            no_new_privs: true,
            landlock: true,
            system: false,
            seccomp: Some(Seccomp::Default),
            uid: None,
            gid: None,
        }
    }

    /// Whether a program given as an absolute host path may run in this
    /// sandbox: always without Landlock, else only when a granted directory
    /// or file cap, or `system`, covers it (spec §9).
    /// The path is resolved first (`..`, symlinks), as the kernel will.
    pub fn allows_host_path(&self, path: &Path, caps: &[(String, Cap)]) -> bool {
        if !self.landlock {
            return true;
        }
        let Ok(path) = std::fs::canonicalize(path) else {
            return false;
        };
        let path = path.as_path();
        if self.system && SYSTEM_DIRS.iter().any(|d| path.starts_with(d)) {
            return true;
        }
        path_caps(caps)
            .iter()
            .any(|cap| cap.host_path().is_some_and(|p| path.starts_with(p)))
    }

    /// Checks what ned can check and builds what the child applies:
    /// `caps` are the task's caps, `program` the path it execs.
    pub fn prepare(
        &self,
        caps: &[(String, Cap)],
        program: &Path,
    ) -> Result<Prepared, SandboxError> {
        let root = rustix::process::geteuid().is_root();
        if (self.uid.is_some() || self.gid.is_some()) && !root {
            return Err(SandboxError::NeedsRoot { what: "uid or gid" });
        }
        let others = self.mount || self.pid || self.net || self.ipc || self.uts;
        if others && !self.user && !root {
            return Err(SandboxError::NeedsRoot {
                what: "a mount, pid, net, ipc or uts namespace without user = true",
            });
        }
        if self.system && !self.landlock {
            return Err(SandboxError::Invalid("system = true needs landlock = true"));
        }
        let flag = |on: bool, f: i32| if on { f } else { 0 };
        let namespaces = flag(self.user, libc::CLONE_NEWUSER)
            | flag(self.mount, libc::CLONE_NEWNS)
            | flag(self.pid, libc::CLONE_NEWPID)
            | flag(self.net, libc::CLONE_NEWNET)
            | flag(self.ipc, libc::CLONE_NEWIPC)
            | flag(self.uts, libc::CLONE_NEWUTS);
        let ids = match (self.uid, self.gid) {
            (None, None) => None,
            (uid, gid) => Some((
                uid.unwrap_or_else(|| rustix::process::geteuid().as_raw()),
                gid.unwrap_or_else(|| rustix::process::getegid().as_raw()),
            )),
        };
        let map = self.user.then(|| {
            ids.unwrap_or_else(|| {
                (
                    rustix::process::geteuid().as_raw(),
                    rustix::process::getegid().as_raw(),
                )
            })
        });
        let landlock = match self.landlock {
            true => Some(self.ruleset(caps, program)?),
            false => None,
        };
        let seccomp = match self.seccomp {
            Some(preset) => Some(compile(preset)?),
            None => None,
        };
        Ok(Prepared {
            namespaces,
            ids,
            map,
            no_new_privs: self.no_new_privs,
            drop_capabilities: self.no_new_privs && (self.user || root),
            landlock,
            seccomp,
        })
    }

    /// The Landlock ruleset for `caps` and `program`, as an fd.
    fn ruleset(&self, caps: &[(String, Cap)], program: &Path) -> Result<OwnedFd, SandboxError> {
        let abi = LANDLOCK_ABI;
        let read = AccessFs::from_read(abi);
        let write = AccessFs::from_all(abi) & !(AccessFs::MakeChar | AccessFs::MakeBlock);
        let file = AccessFs::from_file(abi);
        let granted = path_caps(caps);
        let mut rules: Vec<(RuleFd<'_>, BitFlags<AccessFs>)> = Vec::new();
        for cap in &granted {
            let w = cap.rights.has(Rights::W);
            match &*cap.object {
                Object::Directory { fd, .. } => {
                    rules.push((fd.as_fd().into(), if w { write } else { read }));
                }
                Object::File { fd, .. } => {
                    rules.push((fd.as_fd().into(), file & if w { write } else { read }));
                }
                _ => {}
            }
        }
        // The program itself, readable and executable, wherever it is.
        if let Ok(fd) = PathFd::new(program) {
            rules.push((fd.into(), file & read));
        }
        if self.system {
            for dir in SYSTEM_DIRS {
                if let Ok(fd) = PathFd::new(dir) {
                    rules.push((fd.into(), read));
                }
            }
            for f in SYSTEM_FILES {
                if let Ok(fd) = PathFd::new(f) {
                    rules.push((fd.into(), file & AccessFs::ReadFile));
                }
            }
        }
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))
            .and_then(|r| r.handle_access(AccessNet::from_all(abi)))
            .and_then(|r| r.scope(Scope::from_all(abi)))
            .and_then(|r| r.create())
            .map_err(SandboxError::Landlock)?;
        for (fd, access) in rules {
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(SandboxError::Landlock)?;
        }
        Option::<OwnedFd>::from(ruleset).ok_or(SandboxError::NoLandlock)
    }
}

/// A rule's file: a cap's own fd, or one opened for the rule.
enum RuleFd<'a> {
    Borrowed(BorrowedFd<'a>),
    Owned(PathFd),
}

impl<'a> From<BorrowedFd<'a>> for RuleFd<'a> {
    fn from(fd: BorrowedFd<'a>) -> Self {
        Self::Borrowed(fd)
    }
}

impl From<PathFd> for RuleFd<'_> {
    fn from(fd: PathFd) -> Self {
        Self::Owned(fd)
    }
}

impl AsFd for RuleFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Borrowed(fd) => fd.as_fd(),
            Self::Owned(fd) => fd.as_fd(),
        }
    }
}

/// Every directory and file cap in `caps`, including those inside
/// namespaces held in ned (a task can take them through the object
/// service).
fn path_caps(caps: &[(String, Cap)]) -> Vec<Cap> {
    let mut out = Vec::new();
    for (_, cap) in caps {
        collect(cap, 0, &mut out);
    }
    out
}

fn collect(cap: &Cap, depth: usize, out: &mut Vec<Cap>) {
    match &*cap.object {
        Object::Directory { .. } | Object::File { .. } => out.push(cap.clone()),
        Object::Namespace(map) if depth < MAX_DEPTH => {
            let entries: Vec<Cap> = match map.lock() {
                Ok(m) => m.values().cloned().collect(),
                Err(_) => return,
            };
            for c in &entries {
                collect(c, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// The preset as a BPF program for this architecture, compiled once per
/// ned process: every task with the preset installs the same program.
fn compile(preset: Seccomp) -> Result<&'static [libc::sock_filter], SandboxError> {
    static DEFAULT: OnceLock<Result<Vec<libc::sock_filter>, &'static str>> = OnceLock::new();
    let Seccomp::Default = preset;
    DEFAULT
        .get_or_init(|| {
            let arch = bpf::AUDIT_ARCH.ok_or("no seccomp support for this architecture in ned")?;
            bpf::allow_list(arch, ALLOWED_BY_DEFAULT, libc::EPERM as u16)
        })
        .as_deref()
        .map_err(|&e| SandboxError::Seccomp(e))
}

/// The default allow-list: what ordinary programs, static or dynamic,
/// single- or multithreaded, call (compare systemd's `@system-service`).
/// Left out on purpose, so they fail with EPERM: ptrace and
/// process_vm_{readv,writev}, kexec, kernel modules, reboot, swap, mount
/// and the new mount API, pivot_root, unshare and setns, bpf,
/// perf_event_open, userfaultfd, the keyrings, acct, quotactl, setting
/// clocks, syslog, open_by_handle_at, iopl/ioperm, set-id calls, and the
/// chmod family: a task owns the memfd behind a read-only dataspace when it
/// runs as ned's uid, and could otherwise make it writable again and reopen
/// it read-write through `/proc/self/fd/N` (Landlock does not cover memfds
/// or mode changes).
const ALLOWED_BY_DEFAULT: &[libc::c_long] = &[
    // I/O and files
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
    libc::SYS_openat,
    libc::SYS_openat2,
    libc::SYS_close,
    libc::SYS_close_range,
    libc::SYS_lseek,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_getdents64,
    libc::SYS_getcwd,
    libc::SYS_chdir,
    libc::SYS_fchdir,
    libc::SYS_readlinkat,
    libc::SYS_mkdirat,
    libc::SYS_unlinkat,
    libc::SYS_renameat,
    libc::SYS_renameat2,
    libc::SYS_linkat,
    libc::SYS_symlinkat,
    libc::SYS_fchown,
    libc::SYS_fchownat,
    libc::SYS_utimensat,
    libc::SYS_truncate,
    libc::SYS_ftruncate,
    libc::SYS_fallocate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_sync_file_range,
    libc::SYS_fadvise64,
    libc::SYS_flock,
    libc::SYS_fcntl,
    libc::SYS_ioctl,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_pipe2,
    libc::SYS_sendfile,
    libc::SYS_splice,
    libc::SYS_tee,
    libc::SYS_copy_file_range,
    libc::SYS_memfd_create,
    libc::SYS_umask,
    libc::SYS_getxattr,
    libc::SYS_lgetxattr,
    libc::SYS_fgetxattr,
    libc::SYS_listxattr,
    libc::SYS_llistxattr,
    libc::SYS_flistxattr,
    libc::SYS_inotify_init1,
    libc::SYS_inotify_add_watch,
    libc::SYS_inotify_rm_watch,
    // memory
    libc::SYS_brk,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_msync,
    libc::SYS_mincore,
    libc::SYS_mlock,
    libc::SYS_munlock,
    libc::SYS_membarrier,
    // processes, threads, signals
    libc::SYS_execve,
    libc::SYS_execveat,
    libc::SYS_clone,
    libc::SYS_clone3,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_getpid,
    libc::SYS_getppid,
    libc::SYS_gettid,
    libc::SYS_getpgid,
    libc::SYS_setpgid,
    libc::SYS_getsid,
    libc::SYS_setsid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getresuid,
    libc::SYS_getresgid,
    libc::SYS_getgroups,
    libc::SYS_capget,
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_rt_sigsuspend,
    libc::SYS_rt_sigpending,
    libc::SYS_rt_sigtimedwait,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_sigaltstack,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_futex,
    libc::SYS_futex_waitv,
    libc::SYS_set_robust_list,
    libc::SYS_get_robust_list,
    libc::SYS_set_tid_address,
    libc::SYS_rseq,
    libc::SYS_prctl,
    libc::SYS_prlimit64,
    libc::SYS_getrlimit,
    libc::SYS_setrlimit,
    libc::SYS_getrusage,
    libc::SYS_getpriority,
    libc::SYS_setpriority,
    libc::SYS_sched_yield,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_getparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_get_priority_max,
    libc::SYS_sched_get_priority_min,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_getrandom,
    libc::SYS_seccomp,
    libc::SYS_landlock_create_ruleset,
    libc::SYS_landlock_add_rule,
    libc::SYS_landlock_restrict_self,
    // time
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_nanosleep,
    libc::SYS_times,
    libc::SYS_timer_create,
    libc::SYS_timer_settime,
    libc::SYS_timer_gettime,
    libc::SYS_timer_delete,
    libc::SYS_timer_getoverrun,
    libc::SYS_timerfd_create,
    libc::SYS_timerfd_settime,
    libc::SYS_timerfd_gettime,
    libc::SYS_getitimer,
    libc::SYS_setitimer,
    // waiting for events
    libc::SYS_ppoll,
    libc::SYS_pselect6,
    libc::SYS_epoll_create1,
    libc::SYS_epoll_ctl,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
    libc::SYS_eventfd2,
    libc::SYS_signalfd4,
    // sockets (reaching anything still takes a granted socket: see the
    // network namespace and Landlock)
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_connect,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_sendmmsg,
    libc::SYS_recvmmsg,
    libc::SYS_shutdown,
    // x86_64's older forms, which its libcs still call
    #[cfg(target_arch = "x86_64")]
    libc::SYS_open,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_stat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_lstat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_access,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_select,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_pipe,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_dup2,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_fork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_vfork,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_getdents,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_readlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_unlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_mkdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rmdir,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_rename,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_link,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_symlink,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_creat,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_time,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_alarm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_pause,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_arch_prctl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_create,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_eventfd,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_signalfd,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_inotify_init,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_getpgrp,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_utimes,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_sets_every_namespace_and_the_default_filter() {
        let s = Sandbox::strict();
        assert!(s.user && s.mount && s.pid && s.net && s.ipc && s.uts);
        assert!(s.no_new_privs && s.landlock && !s.system);
        assert_eq!(s.seccomp, Some(Seccomp::Default));
        assert_eq!(Seccomp::from_name("default"), Some(Seccomp::Default));
        assert_eq!(Seccomp::from_name("defualt"), None);
    }

    #[test]
    fn the_default_filter_compiles_and_denies_what_it_documents() {
        let prog = compile(Seccomp::Default).unwrap();
        assert!(!prog.is_empty() && prog.len() < 400, "{}", prog.len());
        // Compiled once: the second start gets the same program.
        assert!(std::ptr::eq(prog, compile(Seccomp::Default).unwrap()));
        for denied in [libc::SYS_ptrace, libc::SYS_mount, libc::SYS_kexec_load] {
            assert!(!ALLOWED_BY_DEFAULT.contains(&denied));
        }
    }

    #[test]
    fn host_paths_need_a_cap_or_system_under_landlock() {
        let mut s = Sandbox::strict();
        let p = Path::new("/bin/true");
        assert!(!s.allows_host_path(p, &[]));
        s.system = true;
        assert!(s.allows_host_path(p, &[]));
        assert!(!s.allows_host_path(Path::new("/etc/passwd"), &[]));
        let cap = Cap::new(Object::directory(Path::new("/etc")).unwrap(), Rights::READ);
        assert!(s.allows_host_path(Path::new("/etc/passwd"), &[("etc".into(), cap)]));
        assert!(Sandbox::default().allows_host_path(p, &[]));
    }
}
