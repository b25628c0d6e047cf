//! Starting a process: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, a
//! table of steps the child runs, then `execve`.
//!
//! # Why this shape
//!
//! * **No fork.** Copying the parent's page tables costs time proportional to
//!   ned's memory (Lua heaps included), and a forked child of a multithreaded
//!   process may only call async-signal-safe functions anyway. With `CLONE_VM`
//!   the child runs in the parent's memory on its own small stack.
//! * **No posix_spawn.** It cannot put the child's own pid into the
//!   environment, and systemd-style socket activation needs exactly that
//!   (`LISTEN_PID=<pid>`, spec §10). Our child writes it itself, into an
//!   environment slot the parent prepared.
//! * **`CLONE_VFORK`** suspends the calling thread until the child has
//!   exec'd or exited. Two things follow: the child may use memory the
//!   parent owns (the step table, argv/envp, the fd plan, the stack) without
//!   racing the parent, and a failure can be reported by simply storing the
//!   failed step's index and errno in a struct on the parent's stack — when
//!   `clone` returns, the child is done with that memory, so no error pipe
//!   is needed. It also means the stack can be reused for the next spawn.
//! * **`CLONE_PIDFD`** hands back a pidfd atomically with the new process,
//!   so there is no window in which the pid could be reused.
//! * No `CLONE_SIGHAND`: the child gets its own copy of the signal handler
//!   table, so resetting dispositions in the child leaves the parent's alone.
//! * **`CLONE_FILES`, then an unsharing `close_range`.** The child starts
//!   on the parent's fd table and, before it changes any fd, unshares it
//!   keeping only the fds below the [fd window](crate::window)'s end, where
//!   the parent has put every fd the child keeps: the copy costs the same
//!   with ten fds open in ned as with ten thousand. The fd plan and the
//!   final `close_range` then work on the child's own small table. A plan
//!   that does not fit the window is started without `CLONE_FILES` (the
//!   table is copied whole at clone).
//!
//! # The step table
//!
//! [`Spawner::spawn`] turns a [`Command`] into a list of [`Step`]s, each a
//! small value naming one system call (or one short loop of them) and the
//! memory it needs, all prepared in the parent. The child runs them in order
//! and then [`Exec`]. A new kind of set-up (namespaces, Landlock, seccomp,
//! dropping privileges) is one new variant, one arm in [`Step::run`] and one
//! in [`Step::what`], and one line where the table is built; the child loop
//! and the error reporting stay as they are. Nothing in the table needs
//! `/proc` (an early init may not have mounted it yet) except a new user
//! namespace's id maps, which only `/proc/self` can write.
//!
//! # Rules for the child (between clone and execve)
//!
//! The child shares the parent's memory, including the heap and any locks
//! other threads may hold. It therefore only makes raw system calls
//! (`syscall(2)`, no libc wrapper with hidden state), touches only memory
//! prepared by the parent (reached through [`ChildArgs`]) and its own stack,
//! does not allocate, and has no panicking paths (no indexing, no unwrap,
//! no overflowing arithmetic). Rust binaries are linked with `-z now` (full
//! RELRO), so no lazy symbol binding runs in the child either. The parent
//! blocks all signals around `clone`, so no parent handler can run in the
//! child before [`Step::ResetSignals`] has reset every disposition.

use std::ffi::{CStr, CString, c_char, c_int, c_long, c_uint, c_void};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

use crate::SpawnError;
use crate::rlimit::{Resource, Rlimit};
use crate::window::FdWindow;

/// What to start. Everything is borrowed; nothing is inherited implicitly.
#[derive(Debug, Clone, Copy)]
pub struct Command<'a> {
    /// Host path passed to `execve` (no `$PATH` search).
    pub path: &'a CStr,
    /// The complete argv, `argv[0]` included, as written.
    pub argv: &'a [CString],
    /// The complete environment as `K=V` entries; nothing is inherited.
    /// With `listen_pid` set, any `LISTEN_PID=` entry here is dropped in
    /// favour of the real one. `LISTEN_FDS`/`LISTEN_FDNAMES` are the caller's
    /// to add.
    pub env: &'a [CString],
    /// Become the child's fds 0, 1 and 2.
    pub stdio: [BorrowedFd<'a>; 3],
    /// Become the child's fds 3, 4, ... in this order.
    pub fds: &'a [BorrowedFd<'a>],
    /// Add `LISTEN_PID=<the child's pid>` to the environment.
    pub listen_pid: bool,
    /// CPUs the child may run on (`sched_setaffinity`); `None` inherits ned's.
    pub cpus: Option<&'a [usize]>,
    /// The child's nice value (`setpriority`); `None` inherits ned's.
    pub nice: Option<i32>,
    /// Make the child the leader of a new process group (`setpgid(0, 0)`),
    /// so a terminal's Ctrl-C, sent to the foreground group, does not reach
    /// it, and its whole group can be signalled at once.
    pub new_group: bool,
    /// Write-only fds of `cgroup.procs` files: the child writes `0` to each
    /// before anything else of its set-up, so it is inside those cgroups
    /// (and under their limits) before it runs one instruction of the
    /// program. The caller opens them with `O_CLOEXEC`.
    pub cgroup_procs: &'a [BorrowedFd<'a>],
    /// Resource limits set in the child, in order, after the fd limit
    /// children get by default ([`Spawner::set_child_nofile`]), so a
    /// `nofile` here wins.
    pub rlimits: &'a [Rlimit],
    /// The sandbox steps, all prepared by the caller; `None` runs the
    /// program with ned's own namespaces, ids and privileges.
    pub isolation: Option<&'a Isolation<'a>>,
}

/// What confines a task (docs/sandbox.md), in the form the child
/// applies without building anything: clone flags, ids, a Landlock ruleset
/// fd and a compiled seccomp program.
///
/// The child applies it in this order, after the fd plan, affinity, nice
/// and the process group: ids ([`Isolation::ids`]), then the user
/// namespace's id maps, `no_new_privs`, Landlock, and the seccomp filter
/// last, after the signal mask is emptied, so the filter only has to allow
/// `execve` and what the program itself calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolation<'a> {
    /// `CLONE_NEW*` flags for the clone itself (`CLONE_NEWPID` only takes
    /// effect for a new process, so namespaces are made by clone, not
    /// unshare). With `CLONE_NEWUSER` among them and no `ids`, the user
    /// namespace is created first and owns the others.
    pub namespaces: c_int,
    /// `(uid, gid)` to switch to (root only): `setgroups(0)`, `setresgid`,
    /// `setresuid`, then `PR_SET_DUMPABLE` back on, because a uid change
    /// makes `/proc/self` root's and the id maps below unwritable. With
    /// `CLONE_NEWUSER` in `namespaces`, the user namespace is then made by
    /// `unshare` after the switch, so it belongs to the new uid (the
    /// other namespaces, cloned by root, stay owned by the host's).
    pub ids: Option<(u32, u32)>,
    /// With a new user namespace: map this `(uid, gid)` to itself in it,
    /// as `bwrap --unshare-user` does, writing `/proc/self/setgroups`
    /// (`deny`), `uid_map` and `gid_map`. A task that is not root on the
    /// host is then not root in its namespace either, and execve leaves
    /// it without capabilities.
    pub map: Option<(u32, u32)>,
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    pub no_new_privs: bool,
    /// Empty the capability bounding set and the ambient set, so the
    /// program gets no capability from execve even as (namespace) root:
    /// without CAP_DAC_OVERRIDE a root task cannot reopen a read-only
    /// memfd read-write through `/proc/self/fd/N`. Needs CAP_SETPCAP, which
    /// root and the first process of a new user namespace have.
    pub drop_capabilities: bool,
    /// A Landlock ruleset to restrict the child with.
    pub landlock: Option<BorrowedFd<'a>>,
    /// A classic BPF program for `seccomp(SECCOMP_SET_MODE_FILTER)`.
    pub seccomp: Option<&'a [libc::sock_filter]>,
}

/// A started process: its pid (for display and `/proc`) and its pidfd (for
/// everything else: [`crate::try_wait`], [`crate::wait`],
/// [`crate::send_signal`], polling for exit).
///
/// Dropping a `Child` closes the pidfd but neither kills nor reaps the
/// process: once it exits it stays a zombie until someone waits for it
/// (spec §12: dropping a task does not stop it).
#[derive(Debug)]
pub struct Child {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// Size of the child's stack. The child only makes system calls from a few
/// small frames; 64 KiB leaves a wide margin, and untouched pages cost
/// nothing.
const STACK_SIZE: usize = 64 * 1024;

/// `LISTEN_PID=` and room for 10 digits (a u32) and the NUL.
const LISTEN_PREFIX: &[u8; 11] = b"LISTEN_PID=";
const LISTEN_DIGITS: usize = 10 + 1;

/// The kernel's `cpu_set_t` is a bitmask of unsigned longs; glibc's has room
/// for 1024 CPUs. We build the same layout ourselves.
const CPU_SETSIZE: usize = 1024;
const CPU_WORDS: usize = CPU_SETSIZE / u64::BITS as usize;

/// Zeroed memory at least as large as the kernel's `struct sigaction` (at
/// most a handler, flags, a restorer and a 128-bit mask: 40 bytes) and its
/// `sigset_t` (at most 128 bits). All zero means SIG_DFL with no flags and
/// an empty mask, or an empty signal set, on every architecture whatever
/// the field order.
static ZEROED_SIGNAL_STRUCT: [u64; 8] = [0; 8];

/// Starts processes; owns the reusable child stack and scratch buffers.
///
/// One spawn at a time per `Spawner` (`spawn` takes `&mut self`); create one
/// per thread if several threads start processes.
#[derive(Debug)]
pub struct Spawner {
    /// The child stack, mapped at the first spawn (a ned that starts no
    /// task never maps it).
    stack: Option<ChildStack>,
    /// Source fd for each target fd (index = target); the child rewrites
    /// entries it moves out of the way.
    plan: Vec<c_int>,
    /// The `LISTEN_PID=` environment entry; the child fills in the digits.
    listen: ListenEntry,
    /// The child's CPU mask, if any.
    cpus: [u64; CPU_WORDS],
    /// The RLIMIT_NOFILE children get, when it differs from ned's own.
    child_nofile: Option<libc::rlimit64>,
    /// Low fds a child receives its fds through, taken at the first spawn
    /// (`None` before it); `Some(None)` if they could not be taken (then
    /// every child copies the whole fd table).
    window: Option<Option<FdWindow>>,
}

/// The reusable child stack: one PROT_NONE guard page, then the stack.
#[derive(Debug)]
struct ChildStack {
    base: *mut c_void,
    len: usize,
}

/// `LISTEN_PID=<digits>\0` as one C string: `repr(C)` byte arrays have no
/// padding, so `prefix` runs straight into `digits`.
#[derive(Debug)]
#[repr(C)]
struct ListenEntry {
    prefix: [u8; LISTEN_PREFIX.len()],
    digits: [u8; LISTEN_DIGITS],
}

// SAFETY: the raw pointer is to the stack mapping, which this ChildStack
// exclusively owns (nothing else knows its address) and its Spawner only
// uses inside `spawn(&mut self)`. Moving it to another thread moves that
// ownership with it.
unsafe impl Send for ChildStack {}

impl Spawner {
    /// A Spawner; it makes no system call until its first spawn, which maps
    /// the child stack and takes the fd window's fd numbers (the lowest free
    /// ones then), so that a ned that starts no task does neither.
    pub fn new() -> Self {
        Self {
            stack: None,
            plan: Vec::new(),
            listen: ListenEntry {
                prefix: *LISTEN_PREFIX,
                digits: [0; LISTEN_DIGITS],
            },
            cpus: [0; CPU_WORDS],
            child_nofile: None,
            window: None,
        }
    }

    /// Gives every child this RLIMIT_NOFILE (soft, hard) instead of ned's.
    ///
    /// ned raises its own soft limit to supervise many tasks; programs that
    /// still use `select()` break above 1024 fds, so children get the limit
    /// ned itself was started with, as systemd does for its services.
    pub fn set_child_nofile(&mut self, soft: u64, hard: u64) {
        self.child_nofile = Some(libc::rlimit64 {
            rlim_cur: soft,
            rlim_max: hard,
        });
    }

    /// Starts `cmd` and returns once the child has exec'd.
    ///
    /// On exec failure the child is reaped and [`SpawnError::Exec`] returned;
    /// on a failed set-up step (fd plan, affinity, nice, fd limit),
    /// [`SpawnError::ChildSetup`] naming the step.
    pub fn spawn(&mut self, cmd: &Command<'_>) -> Result<Child, SpawnError> {
        let path = || cmd.path.to_string_lossy().into_owned();
        if let Some(list) = cmd.cpus {
            self.cpus = cpu_mask(list).map_err(|cpu| SpawnError::CpuOutOfRange {
                path: path(),
                cpu,
                limit: CPU_SETSIZE,
            })?;
        }
        let stack_top = match &self.stack {
            Some(stack) => stack.top(),
            None => self.stack.insert(ChildStack::new()?).top(),
        };
        let iso = cmd.isolation.copied().unwrap_or_default();
        // The ruleset fd rides in the plan, one past the task's fds, so the
        // fd installs cannot overwrite it; the child closes it with the rest.
        let sources = cmd
            .stdio
            .iter()
            .chain(cmd.fds)
            .chain(&iso.landlock)
            .copied();
        let unshare_below = self
            .window
            .get_or_insert_with(FdWindow::new)
            .as_mut()
            .and_then(|w| w.lend(sources.clone(), &mut self.plan));
        if unshare_below.is_none() {
            self.plan.clear();
            self.plan.extend(sources.map(|fd| fd.as_raw_fd()));
        }
        let maps = iso.map.map(IdMaps::new);
        let fprog = iso.seccomp.map(|f| libc::sock_fprog {
            len: u16::try_from(f.len()).unwrap_or(u16::MAX),
            filter: f.as_ptr().cast_mut(),
        });
        // With ids to switch to, the user namespace comes later, from
        // unshare (see Isolation::ids).
        let clone_ns = match iso.ids {
            Some(_) => iso.namespaces & !libc::CLONE_NEWUSER,
            None => iso.namespaces,
        };

        // From here on only raw pointers into the buffers above are taken;
        // nothing writes to `self` until the child is done with them.
        let listen = ptr::from_mut(&mut self.listen);
        let argv = argv_of(cmd);
        let envp = envp_of(cmd, listen);
        let steps = steps_of(
            cmd,
            &mut self.plan,
            listen,
            &self.cpus,
            self.child_nofile,
            unshare_below,
            &Sandboxing {
                iso: &iso,
                maps: maps.as_ref(),
                fprog: fprog.as_ref(),
            },
        );
        let args = ChildArgs {
            steps: &steps,
            exec: Exec {
                path: cmd.path.as_ptr(),
                argv: argv.as_ptr(),
                envp: envp.as_ptr(),
            },
            failed: AtomicUsize::new(NO_FAILURE),
            errno: AtomicI32::new(0),
        };
        // SAFETY: `stack_top` is the end of our stack mapping, unused by
        // anything else while we hold `&mut self`. `args` was built just
        // above from `cmd` and this Spawner's buffers, which outlive the call
        // and are not touched until it returns, so every pointer in it meets
        // the contract of `Step::run` and `Exec::run`. With the window lent,
        // the table's first fd step unshares the fd table (steps_of).
        let cloned = unsafe { clone_vfork(stack_top, &args, clone_ns, unshare_below.is_some()) };
        if let Some(Some(window)) = &mut self.window {
            window.release();
        }
        let (pid, pidfd) = cloned.map_err(|source| match clone_ns {
            0 => SpawnError::Clone {
                path: path(),
                source,
            },
            _ => SpawnError::Namespaces {
                path: path(),
                source,
            },
        })?;
        match args.failure() {
            None => Ok(Child { pid, pidfd }),
            Some((index, errno)) => {
                // The child has called (or is about to finish) _exit(127):
                // reap it so it does not linger as a zombie.
                let _ = crate::wait(pidfd.as_fd());
                Err(child_error(&steps, index, errno, path()))
            }
        }
    }
}

impl Default for Spawner {
    fn default() -> Self {
        Self::new()
    }
}

impl ChildStack {
    /// Maps the stack with a guard page below it.
    fn new() -> Result<Self, SpawnError> {
        let page = rustix::param::page_size();
        let len = STACK_SIZE + page;
        // SAFETY: a fresh anonymous private mapping at an address of the
        // kernel's choosing; it cannot overlap any existing Rust object.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::STACK,
            )
        }
        .map_err(|e| SpawnError::MapStack { source: e.into() })?;
        // From here on, Drop unmaps it whatever happens.
        let stack = Self { base, len };
        // SAFETY: [base, base + page) is the first page of the mapping we
        // just created and nothing references it. The stack grows down, so a
        // child overflowing its stack faults here instead of writing into
        // whatever lies below the mapping.
        unsafe { rustix::mm::mprotect(base, page, MprotectFlags::empty()) }
            .map_err(|e| SpawnError::MapStack { source: e.into() })?;
        Ok(stack)
    }

    /// The (page-aligned, so 16-byte aligned) end of the mapping.
    fn top(&self) -> *mut c_void {
        self.base.wrapping_byte_add(self.len)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping was created in `new` with exactly this base and
        // length, and no child can be using it: `spawn` only returns after
        // the child has exec'd or exited.
        let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
    }
}

/// The `cpu_set_t` bitmask for `cpus`, or the first CPU that does not fit.
fn cpu_mask(cpus: &[usize]) -> Result<[u64; CPU_WORDS], usize> {
    let mut mask = [0u64; CPU_WORDS];
    for &cpu in cpus {
        *mask.get_mut(cpu / 64).ok_or(cpu)? |= 1 << (cpu % 64);
    }
    Ok(mask)
}

/// The NULL-terminated argv array for `execve`.
fn argv_of(cmd: &Command<'_>) -> Vec<*const c_char> {
    cmd.argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

/// The NULL-terminated envp array: `cmd.env`, with the `LISTEN_PID=` entry
/// at `listen` instead of any given one when `cmd.listen_pid` is set.
fn envp_of(cmd: &Command<'_>, listen: *mut ListenEntry) -> Vec<*const c_char> {
    let mut envp: Vec<*const c_char> = Vec::with_capacity(cmd.env.len() + 2);
    envp.extend(
        cmd.env
            .iter()
            .filter(|e| !(cmd.listen_pid && e.to_bytes().starts_with(LISTEN_PREFIX)))
            .map(|e| e.as_ptr()),
    );
    if cmd.listen_pid {
        envp.push(listen.cast_const().cast());
    }
    envp.push(ptr::null());
    envp
}

/// The `/proc/self` files that set up a user namespace's ids, with their
/// contents (`"<id> <id> 1\n"`), built in the parent.
struct IdMaps {
    uid: Vec<u8>,
    gid: Vec<u8>,
}

impl IdMaps {
    fn new((uid, gid): (u32, u32)) -> Self {
        Self {
            uid: format!("{uid} {uid} 1\n").into_bytes(),
            gid: format!("{gid} {gid} 1\n").into_bytes(),
        }
    }
}

/// `deny` for `/proc/self/setgroups`, which an unprivileged process must
/// write before its gid_map (user_namespaces(7), Linux 3.19).
const SETGROUPS_DENY: &[u8] = b"deny";

/// The sandbox parts of one spawn, as [`steps_of`] needs them.
struct Sandboxing<'a> {
    iso: &'a Isolation<'a>,
    maps: Option<&'a IdMaps>,
    fprog: Option<&'a libc::sock_fprog>,
}

/// The child's table for `cmd`, pointing into the given buffers. With a
/// Landlock ruleset, the last plan entry is its fd (see [`Spawner::spawn`]).
fn steps_of(
    cmd: &Command<'_>,
    plan: &mut [c_int],
    listen: *mut ListenEntry,
    cpus: &[u64; CPU_WORDS],
    nofile: Option<libc::rlimit64>,
    unshare_below: Option<c_int>,
    sbx: &Sandboxing<'_>,
) -> Vec<Step> {
    let sigset_size = kernel_sigset_size();
    // More targets than a c_int can number cannot be installed anyway; the
    // saturated value makes the fd steps fail with the kernel's EINVAL.
    let count = c_int::try_from(plan.len()).unwrap_or(c_int::MAX);
    // The fds the task keeps: all targets but the ruleset's slot.
    let kept = count - c_int::from(sbx.iso.landlock.is_some());
    let mut steps = Vec::with_capacity(16 + cmd.cgroup_procs.len() + cmd.rlimits.len());
    steps.push(Step::ResetSignals {
        last: libc::SIGRTMAX(),
        sigset_size,
    });
    // Before the fd plan, which may renumber or close these fds.
    steps.extend(
        cmd.cgroup_procs
            .iter()
            .map(|fd| Step::JoinCgroup { fd: fd.as_raw_fd() }),
    );
    // Still on ned's fd table (CLONE_FILES): nothing above has changed an
    // fd, everything below works on the child's own copy.
    if let Some(end) = unshare_below {
        steps.push(Step::UnshareFds { end: end as c_uint });
    }
    steps.push(Step::MoveFds {
        plan: plan.as_mut_ptr(),
        len: plan.len(),
        count,
    });
    steps.push(Step::InstallFds {
        plan: plan.as_ptr(),
        len: plan.len(),
    });
    if cmd.listen_pid {
        // SAFETY: `listen` points at a live ListenEntry; `&raw mut` only
        // computes the field's address, it reads and writes nothing.
        let digits = unsafe { &raw mut (*listen).digits };
        steps.push(Step::ListenPid { digits });
    }
    if cmd.cpus.is_some() {
        steps.push(Step::SetAffinity {
            mask: cpus.as_ptr(),
        });
    }
    if let Some(value) = cmd.nice {
        steps.push(Step::Nice { value });
    }
    if let Some(limit) = nofile {
        steps.push(Step::SetRlimit {
            resource: Resource::Nofile.raw(),
            limit,
            what: "set the fd limit",
        });
    }
    steps.extend(cmd.rlimits.iter().map(|r| Step::SetRlimit {
        resource: r.resource.raw(),
        limit: libc::rlimit64 {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        },
        what: r.resource.step(),
    }));
    if cmd.new_group {
        steps.push(Step::NewProcessGroup);
    }
    let iso = sbx.iso;
    if let Some((uid, gid)) = iso.ids {
        steps.push(Step::SetIds { uid, gid });
        if iso.namespaces & libc::CLONE_NEWUSER != 0 {
            steps.push(Step::UnshareUser);
        }
    }
    if let Some(maps) = sbx.maps {
        for (file, data) in [
            (ProcFile::Setgroups, SETGROUPS_DENY),
            (ProcFile::UidMap, &maps.uid[..]),
            (ProcFile::GidMap, &maps.gid[..]),
        ] {
            steps.push(Step::WriteProc {
                file,
                data: data.as_ptr(),
                len: data.len(),
            });
        }
    }
    if iso.drop_capabilities {
        steps.push(Step::DropCapabilities);
    }
    if iso.no_new_privs {
        steps.push(Step::NoNewPrivs);
    }
    if iso.landlock.is_some() {
        steps.push(Step::Landlock { fd: kept });
    }
    steps.push(Step::CloseFrom {
        first: kept as c_uint,
    });
    steps.push(Step::UnblockSignals { sigset_size });
    if let Some(prog) = sbx.fprog {
        steps.push(Step::Seccomp {
            prog: ptr::from_ref(prog),
        });
    }
    steps
}

/// The kernel's sizeof(sigset_t), as rt_sigaction and rt_sigprocmask want
/// it: one bit per signal up to SIGRTMAX (8 bytes; 16 on MIPS).
fn kernel_sigset_size() -> usize {
    (libc::SIGRTMAX() as usize).div_ceil(8)
}

/// The error for a failure the child reported at step `index` of `steps`
/// (`index == steps.len()` is the final exec).
fn child_error(steps: &[Step], index: usize, errno: c_int, path: String) -> SpawnError {
    let source = io::Error::from_raw_os_error(errno);
    match steps.get(index) {
        Some(step) => SpawnError::ChildSetup {
            step: step.what(errno),
            path,
            source,
        },
        None => SpawnError::Exec {
            path,
            error: source,
        },
    }
}

/// One set-up step of the child, with everything it needs prepared by the
/// parent. The table runs in the order it was built; see [`steps_of`].
#[derive(Debug)]
enum Step {
    /// Every disposition from 1 to `last` back to SIG_DFL. Handlers would
    /// be reset by execve anyway, but ignored signals survive it (Rust
    /// ignores SIGPIPE, and ned may itself have been started with SIGCHLD
    /// ignored), and only here, before the mask is emptied, would a parent
    /// handler run in the child on shared memory. Raw rt_sigaction,
    /// because glibc's sigaction refuses its two internal signals (32, 33),
    /// which can be inherited as ignored.
    ResetSignals { last: c_int, sigset_size: usize },
    /// `write(fd, "0", 1)`: moves this process into the cgroup whose
    /// `cgroup.procs` the parent opened as `fd` ("0" is the writer itself,
    /// in v1 and v2 alike). One step per cgroup, first after the signals,
    /// so that the rest of the set-up and the whole program are charged
    /// and limited there; the memory the child touches before exec is the
    /// parent's (CLONE_VM), charged to ned's own cgroup.
    JoinCgroup { fd: c_int },
    /// `close_range(end, ~0, CLOSE_RANGE_UNSHARE)`: leaves ned's fd table
    /// (the child was cloned with `CLONE_FILES`) for a copy of only its fds
    /// below `end`, the fd window's end, where every source of the plan
    /// is. The first step that touches the fd table (Linux 5.9).
    UnshareFds { end: c_uint },
    /// Moves every source that is itself a target (`< count`) above the
    /// targets, rewriting its plan entry, so that no install below
    /// overwrites a source still needed. `plan` is `len` writable ints.
    MoveFds {
        plan: *mut c_int,
        len: usize,
        count: c_int,
    },
    /// `dup3(plan[i], i)` for each target, after [`Step::MoveFds`]: every
    /// source is then above every target, so `dup3` (which, unlike `dup2`,
    /// exists on every architecture) never sees equal fds. The new fds are
    /// not close-on-exec.
    InstallFds { plan: *const c_int, len: usize },
    /// `close_range(first, ~0)`: every fd not in the plan, including fds
    /// any thread of ned opened without O_CLOEXEC and the moved copies.
    /// Linux 5.9; through syscall() so glibc < 2.34 works.
    CloseFrom { first: c_uint },
    /// Our own pid in decimal, NUL-terminated, into the `LISTEN_PID=` entry.
    ListenPid { digits: *mut [u8; LISTEN_DIGITS] },
    /// `sched_setaffinity(0, ...)` with a CPU_WORDS-word mask.
    SetAffinity { mask: *const u64 },
    /// `setpriority(PRIO_PROCESS, 0, value)`.
    Nice { value: c_int },
    /// `prlimit64(0, resource, &limit, NULL)`. One step per resource, so
    /// a failure names the resource (`what`).
    SetRlimit {
        resource: c_int,
        limit: libc::rlimit64,
        what: &'static str,
    },
    /// `setpgid(0, 0)`: a process group of its own, made before exec, so
    /// when `spawn` returns the group already exists and can be signalled.
    NewProcessGroup,
    /// Empties the signal mask, which survives execve. Last but for the
    /// seccomp filter, so the set-up runs uninterrupted; dispositions are
    /// default by now, so a pending signal takes its default action, as it
    /// would after exec.
    UnblockSignals { sigset_size: usize },
    /// `setgroups(0, NULL)`, `setresgid(gid)`, `setresuid(uid)`, then
    /// `prctl(PR_SET_DUMPABLE, 1)` (see [`Isolation::ids`]).
    SetIds { uid: u32, gid: u32 },
    /// `unshare(CLONE_NEWUSER)`, after [`Step::SetIds`].
    UnshareUser,
    /// Writes `len` bytes at `data` to one `/proc/self` file of the user
    /// namespace set-up (open, write, close).
    WriteProc {
        file: ProcFile,
        data: *const u8,
        len: usize,
    },
    /// `prctl(PR_CAPBSET_DROP, n)` for every capability the kernel knows
    /// (until EINVAL), then `PR_CAP_AMBIENT_CLEAR_ALL`.
    DropCapabilities,
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)`.
    NoNewPrivs,
    /// `landlock_restrict_self(fd, 0)` (Linux 5.13), the ruleset's fd as
    /// installed by the fd plan. Needs `no_new_privs` or CAP_SYS_ADMIN in
    /// the task's user namespace.
    Landlock { fd: c_int },
    /// `seccomp(SECCOMP_SET_MODE_FILTER, 0, prog)` (Linux 3.17): the very
    /// last step, so the filter has only execve left to allow of ours.
    Seccomp { prog: *const libc::sock_fprog },
}

/// One of the `/proc/self` files a new user namespace is set up through.
#[derive(Debug, Clone, Copy)]
enum ProcFile {
    Setgroups,
    UidMap,
    GidMap,
}

impl ProcFile {
    fn path(self) -> &'static CStr {
        match self {
            Self::Setgroups => c"/proc/self/setgroups",
            Self::UidMap => c"/proc/self/uid_map",
            Self::GidMap => c"/proc/self/gid_map",
        }
    }
}

impl Step {
    /// What the step does, as a verb phrase for "failed to ...".
    fn what(&self, errno: c_int) -> &'static str {
        match self {
            Self::ResetSignals { .. } => "reset the signal dispositions",
            Self::JoinCgroup { .. } => "join the task's cgroup",
            Self::UnshareFds { .. } => "copy the fd table",
            Self::MoveFds { .. } => "move fds out of the way",
            Self::InstallFds { .. } => "install fds",
            Self::CloseFrom { .. } if errno == libc::ENOSYS => {
                "close inherited fds (close_range needs Linux 5.9 or later)"
            }
            Self::CloseFrom { .. } => "close inherited fds",
            Self::ListenPid { .. } => "set LISTEN_PID",
            Self::SetAffinity { .. } => "set the CPU affinity",
            Self::Nice { .. } => "set the nice value",
            Self::SetRlimit { what, .. } => what,
            Self::NewProcessGroup => "start a process group",
            Self::UnblockSignals { .. } => "unblock signals",
            Self::SetIds { .. } => "set the uid and gid",
            Self::UnshareUser => "create the user namespace",
            Self::WriteProc {
                file: ProcFile::Setgroups,
                ..
            } => "deny setgroups in the user namespace",
            Self::WriteProc {
                file: ProcFile::UidMap,
                ..
            } => "write the user namespace's uid map",
            Self::WriteProc {
                file: ProcFile::GidMap,
                ..
            } => "write the user namespace's gid map",
            Self::DropCapabilities => "drop the capability bounding set",
            Self::NoNewPrivs => "set no_new_privs",
            Self::Landlock { .. } => "apply the Landlock ruleset",
            Self::Seccomp { .. } => "install the seccomp filter",
        }
    }

    /// Runs the step; `Err(errno)` if its system call failed.
    ///
    /// # Safety
    ///
    /// Only in a `CLONE_VM | CLONE_VFORK` child with all signals blocked,
    /// following the child rules in the module docs, with every pointer as
    /// documented on its variant and owned by the suspended parent.
    unsafe fn run(&self) -> Result<(), c_int> {
        // SAFETY: each callee's contract is this function's own.
        unsafe {
            match *self {
                Self::ResetSignals { last, sigset_size } => reset_signals(last, sigset_size),
                Self::JoinCgroup { fd } => join_cgroup(fd),
                Self::UnshareFds { end } => unshare_fds(end),
                Self::MoveFds { plan, len, count } => move_fds(plan, len, count),
                Self::InstallFds { plan, len } => install_fds(plan, len),
                Self::CloseFrom { first } => close_from(first),
                Self::ListenPid { digits } => listen_pid(digits),
                Self::SetAffinity { mask } => set_affinity(mask),
                Self::Nice { value } => nice(value),
                Self::SetRlimit {
                    resource, limit, ..
                } => set_rlimit(resource, &limit),
                Self::NewProcessGroup => new_process_group(),
                Self::UnblockSignals { sigset_size } => unblock_signals(sigset_size),
                Self::SetIds { uid, gid } => set_ids(uid, gid),
                Self::UnshareUser => unshare_user(),
                Self::WriteProc { file, data, len } => write_proc(file, data, len),
                Self::DropCapabilities => drop_capabilities(),
                Self::NoNewPrivs => no_new_privs(),
                Self::Landlock { fd } => landlock(fd),
                Self::Seccomp { prog } => seccomp(prog),
            }
        }
    }
}

// The steps' system calls. Each is `unsafe` only because it runs in the
// vfork child (see `Step::run`); the pointer arguments are those documented
// on the matching `Step` variant.

/// [`Step::ResetSignals`]; never fails.
unsafe fn reset_signals(last: c_int, sigset_size: usize) -> Result<(), c_int> {
    for sig in 1..=last {
        // SAFETY: the new action is ZEROED_SIGNAL_STRUCT, at least the
        // kernel's sizeof(struct sigaction); the old-action pointer is NULL;
        // `sigset_size` is the kernel's sizeof(sigset_t). SIGKILL and SIGSTOP
        // fail with EINVAL, as expected: they cannot be changed.
        let _ = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                ZEROED_SIGNAL_STRUCT.as_ptr(),
                ptr::null_mut::<c_void>(),
                sigset_size,
            )
        };
    }
    Ok(())
}

/// [`Step::UnshareFds`].
unsafe fn unshare_fds(end: c_uint) -> Result<(), c_int> {
    // SAFETY: fd numbers and flags only. It closes nothing of the parent's:
    // the range is closed in the new copy, which the kernel makes first.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            end,
            c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        )
    };
    check(rc).map(drop)
}

/// [`Step::MoveFds`].
unsafe fn move_fds(plan: *mut c_int, len: usize, count: c_int) -> Result<(), c_int> {
    // SAFETY: `plan` is `len` ints of the parent's plan buffer; the parent
    // is suspended, so this is the only reference.
    let plan = unsafe { std::slice::from_raw_parts_mut(plan, len) };
    for src in plan.iter_mut().filter(|src| **src < count) {
        // SAFETY: fcntl on fd numbers only; F_DUPFD_CLOEXEC takes an int and
        // touches no memory.
        let moved = unsafe { libc::syscall(libc::SYS_fcntl, *src, libc::F_DUPFD_CLOEXEC, count) };
        *src = check(moved)? as c_int;
    }
    Ok(())
}

/// [`Step::InstallFds`].
unsafe fn install_fds(plan: *const c_int, len: usize) -> Result<(), c_int> {
    // SAFETY: as in `move_fds`; only read here.
    let plan = unsafe { std::slice::from_raw_parts(plan, len) };
    for (target, &src) in plan.iter().enumerate() {
        // SAFETY: dup3 on fd numbers only, in our own fd table.
        check(unsafe { libc::syscall(libc::SYS_dup3, src, target as c_int, 0) })?;
    }
    Ok(())
}

/// [`Step::CloseFrom`].
unsafe fn close_from(first: c_uint) -> Result<(), c_int> {
    // SAFETY: closes fds of our own fd table only (copied at clone, or by
    // Step::UnshareFds).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, c_uint::MAX, 0 as c_uint) };
    check(rc).map(drop)
}

/// [`Step::ListenPid`]; never fails.
unsafe fn listen_pid(digits: *mut [u8; LISTEN_DIGITS]) -> Result<(), c_int> {
    // SAFETY: getpid takes nothing and cannot fail. (Raw, like every step:
    // no libc cache of the pid is consulted.)
    let pid = unsafe { libc::syscall(libc::SYS_getpid) } as u32;
    // SAFETY: `digits` points at the parent's ListenEntry digits; the
    // parent is suspended, so this is the only reference.
    write_decimal(pid, unsafe { &mut *digits });
    Ok(())
}

/// [`Step::SetAffinity`].
unsafe fn set_affinity(mask: *const u64) -> Result<(), c_int> {
    // SAFETY: `mask` points at CPU_WORDS u64s = 128 bytes, the size and
    // layout of the kernel's cpumask argument (a bitmask of unsigned longs);
    // pid 0 is this process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            CPU_WORDS * size_of::<u64>(),
            mask,
        )
    };
    check(rc).map(drop)
}

/// [`Step::Nice`].
unsafe fn nice(value: c_int) -> Result<(), c_int> {
    // SAFETY: plain values only; who = 0 means this process.
    let rc = unsafe { libc::syscall(libc::SYS_setpriority, libc::PRIO_PROCESS, 0, value) };
    check(rc).map(drop)
}

/// [`Step::SetRlimit`].
unsafe fn set_rlimit(resource: c_int, limit: &libc::rlimit64) -> Result<(), c_int> {
    // SAFETY: `limit` is an initialised rlimit64, the kernel's struct for
    // prlimit64; the old-limit pointer is NULL; pid 0 is this process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            ptr::from_ref(limit),
            ptr::null_mut::<libc::rlimit64>(),
        )
    };
    check(rc).map(drop)
}

/// What [`Step::JoinCgroup`] writes: the pid "0", the writer itself.
static SELF_PID: [u8; 1] = *b"0";

/// [`Step::JoinCgroup`].
unsafe fn join_cgroup(fd: c_int) -> Result<(), c_int> {
    // SAFETY: write of one byte from a static buffer to an fd of our own
    // (copied) fd table.
    let rc = unsafe { libc::syscall(libc::SYS_write, fd, SELF_PID.as_ptr(), SELF_PID.len()) };
    check(rc).map(drop)
}

/// [`Step::NewProcessGroup`].
unsafe fn new_process_group() -> Result<(), c_int> {
    // SAFETY: plain values only; pid 0 and pgid 0 mean this process.
    let rc = unsafe { libc::syscall(libc::SYS_setpgid, 0, 0) };
    check(rc).map(drop)
}

/// [`Step::UnblockSignals`].
unsafe fn unblock_signals(sigset_size: usize) -> Result<(), c_int> {
    // SAFETY: the new mask is ZEROED_SIGNAL_STRUCT, at least `sigset_size`
    // (the kernel's sizeof(sigset_t)) zero bytes: the empty set; the
    // old-mask pointer is NULL.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            ZEROED_SIGNAL_STRUCT.as_ptr(),
            ptr::null_mut::<c_void>(),
            sigset_size,
        )
    };
    check(rc).map(drop)
}

/// [`Step::SetIds`].
unsafe fn set_ids(uid: u32, gid: u32) -> Result<(), c_int> {
    // SAFETY: plain values only; an empty supplementary group list needs
    // no pointer. The raw calls change this process's credentials only
    // (glibc's wrappers would broadcast to the parent's threads: CLONE_VM
    // does not make us one of them, but their set-id machinery is state we
    // must not touch).
    unsafe {
        check(libc::syscall(
            libc::SYS_setgroups,
            0,
            ptr::null::<libc::gid_t>(),
        ))?;
        check(libc::syscall(libc::SYS_setresgid, gid, gid, gid))?;
        check(libc::syscall(libc::SYS_setresuid, uid, uid, uid))?;
        check(libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_DUMPABLE,
            1,
            0,
            0,
            0,
        ))?;
    }
    Ok(())
}

/// [`Step::UnshareUser`].
unsafe fn unshare_user() -> Result<(), c_int> {
    // SAFETY: a flag only. The child shares no fs or files struct (see
    // the clone flags), as unshare(CLONE_NEWUSER) requires.
    check(unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER) }).map(drop)
}

/// [`Step::WriteProc`].
unsafe fn write_proc(file: ProcFile, data: *const u8, len: usize) -> Result<(), c_int> {
    // SAFETY: the path is a static C string; O_CLOEXEC, so an fd left by
    // a failed write cannot reach the program.
    let fd = check(unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            file.path().as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `data` is `len` bytes of the parent's IdMaps (or a static),
    // alive until the child is done. The kernel takes a map in one write.
    let written = check(unsafe { libc::syscall(libc::SYS_write, fd, data, len) });
    // SAFETY: closes the fd opened above.
    let _ = unsafe { libc::syscall(libc::SYS_close, fd) };
    match written {
        Ok(n) if n as usize == len => Ok(()),
        Ok(_) => Err(libc::EIO),
        Err(e) => Err(e),
    }
}

/// Above the highest capability any kernel defines (40 in Linux 6.x).
const CAP_LIMIT: c_int = 64;

/// [`Step::DropCapabilities`].
unsafe fn drop_capabilities() -> Result<(), c_int> {
    for cap in 0..CAP_LIMIT {
        // SAFETY: plain values only.
        match check(unsafe { libc::syscall(libc::SYS_prctl, libc::PR_CAPBSET_DROP, cap, 0, 0, 0) })
        {
            Ok(_) => {}
            // Past the kernel's last capability.
            Err(libc::EINVAL) => break,
            Err(e) => return Err(e),
        }
    }
    // SAFETY: plain values only.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    check(rc).map(drop)
}

/// [`Step::NoNewPrivs`].
unsafe fn no_new_privs() -> Result<(), c_int> {
    // SAFETY: plain values only.
    check(unsafe { libc::syscall(libc::SYS_prctl, libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
        .map(drop)
}

/// [`Step::Landlock`].
unsafe fn landlock(fd: c_int) -> Result<(), c_int> {
    // SAFETY: a ruleset fd in our own fd table and no flags.
    check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0 as c_uint) }).map(drop)
}

/// [`Step::Seccomp`].
unsafe fn seccomp(prog: *const libc::sock_fprog) -> Result<(), c_int> {
    // SAFETY: `prog` points at the parent's sock_fprog, whose `filter`
    // points at `len` instructions of the caller's program, both alive
    // until the child has exec'd; the kernel copies them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as c_uint,
            prog,
        )
    };
    check(rc).map(drop)
}

/// Writes `n` in decimal followed by a NUL into `out`, without allocating
/// or any panicking path (a u32 has at most 10 digits; `out` holds 11).
fn write_decimal(n: u32, out: &mut [u8; LISTEN_DIGITS]) {
    let mut digits = 1;
    let mut rest = n / 10;
    while rest > 0 {
        digits += 1;
        rest /= 10;
    }
    let mut rest = n;
    for slot in out.iter_mut().take(digits).rev() {
        *slot = b'0'.wrapping_add((rest % 10) as u8);
        rest /= 10;
    }
    if let Some(nul) = out.get_mut(digits) {
        *nul = 0;
    }
}

/// A raw syscall's return value, or the errno it left on failure.
fn check(ret: c_long) -> Result<c_long, c_int> {
    if ret >= 0 {
        return Ok(ret);
    }
    // SAFETY: __errno_location returns this thread's errno slot, always
    // valid. (Without CLONE_SETTLS the child uses the parent thread's TLS,
    // and the parent thread is suspended.)
    Err(unsafe { *libc::__errno_location() })
}

/// The child's last act: `execve`, which only returns on failure.
struct Exec {
    /// A C string.
    path: *const c_char,
    /// NULL-terminated arrays of C strings.
    argv: *const *const c_char,
    envp: *const *const c_char,
}

impl Exec {
    /// Execs; on failure returns the errno.
    ///
    /// # Safety
    ///
    /// As for [`Step::run`]; `path`, `argv` and `envp` as documented on the
    /// fields, owned by the suspended parent.
    unsafe fn run(&self) -> c_int {
        // SAFETY: see the function's contract.
        let rc = unsafe { libc::syscall(libc::SYS_execve, self.path, self.argv, self.envp) };
        check(rc).err().unwrap_or(0)
    }
}

/// The clone flags [`Isolation::namespaces`] may add.
const NAMESPACE_FLAGS: c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// [`ChildArgs::failed`] when nothing failed.
const NO_FAILURE: usize = usize::MAX;

/// Everything the child reads, prepared by the parent; lives on the
/// parent's stack for the duration of `clone`.
struct ChildArgs<'a> {
    steps: &'a [Step],
    exec: Exec,
    /// Written by the child before `_exit(127)`: the index of the failed
    /// step (`steps.len()` for the exec) and its errno.
    failed: AtomicUsize,
    errno: AtomicI32,
}

impl ChildArgs<'_> {
    /// What the child reported, once `clone` has returned: `(index, errno)`.
    fn failure(&self) -> Option<(usize, c_int)> {
        // Relaxed suffices: the kernel orders the child's writes before the
        // vfork wake-up of this thread.
        let index = self.failed.load(Ordering::Relaxed);
        (index != NO_FAILURE).then(|| (index, self.errno.load(Ordering::Relaxed)))
    }
}

/// Clones the child on the stack ending at `stack_top`, with all signals
/// blocked, and returns once it has exec'd or exited: `(pid, pidfd)`.
///
/// # Safety
///
/// `stack_top` is the aligned end of a writable mapping nothing else uses
/// during the call, and `args` meets the contracts of [`Step::run`] and
/// [`Exec::run`].
unsafe fn clone_vfork(
    stack_top: *mut c_void,
    args: &ChildArgs<'_>,
    namespaces: c_int,
    share_files: bool,
) -> io::Result<(i32, OwnedFd)> {
    let files = if share_files { libc::CLONE_FILES } else { 0 };
    let mut pidfd: c_int = -1;
    let pid = {
        let _blocked = BlockAllSignals::new();
        // SAFETY: see the function's contract. With CLONE_VM | CLONE_VFORK
        // this thread stays suspended until the child has exec'd or exited,
        // so everything `args` points at stays alive and untouched by us for
        // as long as the child uses it; `child_main` obeys the child rules
        // in the module docs. With CLONE_PIDFD the kernel stores the pidfd
        // through the parent_tid argument, which points at a live c_int.
        // `namespaces` only adds CLONE_NEW* flags: the kernel accepts them
        // with CLONE_VM | CLONE_VFORK (it refuses CLONE_NEWUSER only with
        // CLONE_FS or CLONE_THREAD, and CLONE_NEWPID with CLONE_THREAD or
        // CLONE_PARENT, none of which we pass). With CLONE_FILES (only when
        // the table starts with Step::UnshareFds) the child changes no fd of
        // ours: only steps that write to fds run before that unshare.
        unsafe {
            libc::clone(
                child_main,
                stack_top,
                libc::CLONE_VM
                    | libc::CLONE_VFORK
                    | libc::CLONE_PIDFD
                    | libc::SIGCHLD
                    | files
                    | (namespaces & NAMESPACE_FLAGS),
                ptr::from_ref(args).cast_mut().cast(),
                ptr::from_mut(&mut pidfd),
            )
        }
    };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: clone succeeded with CLONE_PIDFD, so `pidfd` is a new fd owned
    // by nobody else.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// The child's entry point, called by glibc's clone on our stack: runs the
/// table, then execs.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&ChildArgs` the parent passed to clone; it stays
    // valid and unmodified by the parent until this child execs or exits
    // (CLONE_VFORK). Only atomics are written through the shared reference.
    let args = unsafe { &*arg.cast_const().cast::<ChildArgs<'_>>() };
    for (index, step) in args.steps.iter().enumerate() {
        // SAFETY: the table was built by `steps_of` for this spawn and we
        // are the vfork child `clone_vfork` started with all signals
        // blocked, as `Step::run` requires.
        if let Err(errno) = unsafe { step.run() } {
            child_fail(args, index, errno);
        }
    }
    // SAFETY: as above, for the exec prepared by `Spawner::spawn`.
    let errno = unsafe { args.exec.run() };
    child_fail(args, args.steps.len(), errno)
}

/// Records which step failed and with what errno, then exits without running
/// any atexit handler or flushing any (shared!) stdio buffer.
fn child_fail(args: &ChildArgs<'_>, index: usize, errno: c_int) -> ! {
    args.errno.store(errno, Ordering::Relaxed);
    args.failed.store(index, Ordering::Relaxed);
    // SAFETY: _exit is glibc's thin exit_group wrapper; it never returns
    // and skips every user-space exit path.
    unsafe { libc::_exit(127) }
}

/// An empty (`full == false`) or full signal set.
fn sigset(full: bool) -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: both functions initialise the whole sigset_t behind a valid
    // pointer and cannot fail for one.
    unsafe {
        if full {
            libc::sigfillset(set.as_mut_ptr());
        } else {
            libc::sigemptyset(set.as_mut_ptr());
        }
        set.assume_init()
    }
}

/// Blocks every signal on this thread for its lifetime, then restores the
/// previous mask, so no signal handler of ours can run in the child while
/// it shares our memory (it inherits this mask).
struct BlockAllSignals {
    old: libc::sigset_t,
}

impl BlockAllSignals {
    fn new() -> Self {
        let all = sigset(true);
        let mut old = sigset(false);
        // SAFETY: both pointers point at initialised sigset_t values that
        // outlive the call. It cannot fail with SIG_SETMASK and valid
        // pointers.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };
        Self { old }
    }
}

impl Drop for BlockAllSignals {
    fn drop(&mut self) {
        // SAFETY: `old` is the initialised mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, ptr::null_mut()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_step_and_close_range_enosys_the_kernel() {
        let steps = [Step::Nice { value: 1 }, Step::CloseFrom { first: 3 }];
        let err = child_error(&steps, 0, libc::EACCES, "/x".into());
        assert_eq!(err.to_string(), "failed to set the nice value for /x");
        let err = child_error(&steps, 1, libc::EBADF, "/x".into());
        assert_eq!(err.to_string(), "failed to close inherited fds for /x");
        let err = child_error(&steps, 1, libc::ENOSYS, "/x".into());
        assert_eq!(
            err.to_string(),
            "failed to close inherited fds (close_range needs Linux 5.9 or later) for /x"
        );
        assert_eq!(err.os_error().unwrap().raw_os_error(), Some(libc::ENOSYS));
        // One past the table is the exec.
        let err = child_error(&steps, 2, libc::ENOENT, "/x".into());
        assert!(matches!(err, SpawnError::Exec { .. }), "{err:?}");
    }

    #[test]
    fn sandbox_steps_name_themselves() {
        let steps = [
            Step::WriteProc {
                file: ProcFile::UidMap,
                data: SETGROUPS_DENY.as_ptr(),
                len: 0,
            },
            Step::Landlock { fd: 3 },
            Step::Seccomp { prog: ptr::null() },
        ];
        let names: Vec<String> = (0..3)
            .map(|i| child_error(&steps, i, libc::EPERM, "/x".into()).to_string())
            .collect();
        assert_eq!(
            names,
            [
                "failed to write the user namespace's uid map for /x",
                "failed to apply the Landlock ruleset for /x",
                "failed to install the seccomp filter for /x",
            ]
        );
    }

    #[test]
    fn decimal_pid_fills_the_entry() {
        let mut out = [b'#'; LISTEN_DIGITS];
        write_decimal(0, &mut out);
        assert_eq!(&out[..2], b"0\0");
        write_decimal(u32::MAX, &mut out);
        assert_eq!(&out, b"4294967295\0");
        write_decimal(4021, &mut out);
        assert_eq!(&out[..5], b"4021\0");
    }
}
