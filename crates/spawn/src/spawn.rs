//! Starting a process: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` and the
//! child's few steps up to `execve`.
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
//!   parent owns (the argv/envp arrays, the fd plan, the stack) without
//!   racing the parent, and an exec failure can be reported by simply
//!   storing errno in a struct on the parent's stack — when `clone` returns,
//!   the child is done with that memory, so no error pipe is needed. It also
//!   means the stack can be reused for the next spawn.
//! * **`CLONE_PIDFD`** hands back a pidfd atomically with the new process,
//!   so there is no window in which the pid could be reused.
//! * No `CLONE_SIGHAND`: the child gets its own copy of the signal handler
//!   table, so resetting dispositions in the child leaves the parent's alone.
//!   No `CLONE_FILES`: the child's fd table is a copy, so the fd plan and
//!   `close_range` do not touch the parent's fds.
//!
//! # Rules for the child (between clone and execve)
//!
//! The child shares the parent's memory, including the heap and any locks
//! other threads may hold. It therefore only makes system calls through
//! libc's thin, async-signal-safe wrappers, touches only memory prepared by
//! the parent (reached through [`ChildArgs`]) and its own stack, does not
//! allocate, and has no panicking paths (no indexing, no unwrap, wrapping
//! arithmetic). Rust binaries are linked with `-z now` (full RELRO), so no
//! lazy symbol binding runs in the child either. The parent blocks all
//! signals around `clone`, so no parent handler can run in the child before
//! it has reset every disposition to the default.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::io;
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

use crate::SpawnError;

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

/// `LISTEN_PID=` followed by room for 10 digits (a u32) and the NUL.
const LISTEN_PREFIX: &[u8] = b"LISTEN_PID=";
const LISTEN_BUF_LEN: usize = LISTEN_PREFIX.len() + 10 + 1;

/// The kernel's `cpu_set_t` is a bitmask of unsigned longs; glibc's has room
/// for 1024 CPUs. We build the same layout ourselves.
const CPU_SETSIZE: usize = 1024;
const CPU_WORDS: usize = CPU_SETSIZE / u64::BITS as usize;

/// Room for the kernel's `struct sigaction` on any architecture (at most a
/// handler, flags, a restorer and a 128-bit mask: 40 bytes).
const KERNEL_SIGACTION_WORDS: usize = 8;

/// Starts processes; owns the reusable child stack and scratch buffers.
///
/// One spawn at a time per `Spawner` (`spawn` takes `&mut self`); create one
/// per thread if several threads start processes.
#[derive(Debug)]
pub struct Spawner {
    /// Base of the mapping: one PROT_NONE guard page, then the stack.
    stack_base: *mut c_void,
    stack_len: usize,
    /// Source fd for each target fd (index = target); the child rewrites
    /// entries it moves out of the way.
    plan: Vec<c_int>,
    /// The `LISTEN_PID=` environment entry, filled in by the child.
    listen: [u8; LISTEN_BUF_LEN],
    /// The child's CPU mask, if any.
    cpus: [u64; CPU_WORDS],
    /// The RLIMIT_NOFILE children get, when it differs from ned's own.
    child_nofile: Option<libc::rlimit>,
}

// SAFETY: the only non-Send fields are the raw pointer to the stack mapping,
// which this Spawner exclusively owns (nothing else knows its address) and
// only uses inside `spawn(&mut self)`. Moving the Spawner to another thread
// moves that ownership with it.
unsafe impl Send for Spawner {}

impl Spawner {
    /// Maps the child stack (with a guard page below it).
    pub fn new() -> Result<Self, SpawnError> {
        let page = rustix::param::page_size();
        let stack_len = STACK_SIZE + page;
        // SAFETY: a fresh anonymous private mapping at an address of the
        // kernel's choosing; it cannot overlap any existing Rust object.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                stack_len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::STACK,
            )
        }
        .map_err(|e| SpawnError::MapStack { source: e.into() })?;
        // SAFETY: [base, base + page) is the first page of the mapping we
        // just created and nothing references it. The stack grows down, so a
        // child overflowing its stack faults here instead of writing into
        // whatever lies below the mapping.
        if let Err(e) = unsafe { rustix::mm::mprotect(base, page, MprotectFlags::empty()) } {
            // SAFETY: unmapping the mapping created above, not yet shared.
            let _ = unsafe { rustix::mm::munmap(base, stack_len) };
            return Err(SpawnError::MapStack { source: e.into() });
        }
        let mut listen = [0u8; LISTEN_BUF_LEN];
        listen[..LISTEN_PREFIX.len()].copy_from_slice(LISTEN_PREFIX);
        Ok(Self {
            stack_base: base,
            stack_len,
            plan: Vec::new(),
            listen,
            cpus: [0; CPU_WORDS],
            child_nofile: None,
        })
    }

    /// Gives every child this RLIMIT_NOFILE (soft, hard) instead of ned's.
    ///
    /// ned raises its own soft limit to supervise many tasks; programs that
    /// still use `select()` break above 1024 fds, so children get the limit
    /// ned itself was started with, as systemd does for its services.
    pub fn set_child_nofile(&mut self, soft: u64, hard: u64) {
        self.child_nofile = Some(libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        });
    }

    /// Starts `cmd` and returns once the child has exec'd.
    ///
    /// On exec failure the child is reaped and [`SpawnError::Exec`] returned;
    /// on a failed setup step (fd plan, affinity, nice),
    /// [`SpawnError::ChildSetup`].
    pub fn spawn(&mut self, cmd: &Command<'_>) -> Result<Child, SpawnError> {
        let path_str = || cmd.path.to_string_lossy().into_owned();

        // Everything the child needs is built here, in the parent.
        let argv: Vec<*const c_char> = cmd
            .argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(std::iter::once(ptr::null()))
            .collect();

        let mut envp: Vec<*const c_char> = Vec::with_capacity(cmd.env.len() + 2);
        envp.extend(
            cmd.env
                .iter()
                .filter(|e| !(cmd.listen_pid && e.to_bytes().starts_with(LISTEN_PREFIX)))
                .map(|e| e.as_ptr()),
        );
        let listen_digits = if cmd.listen_pid {
            let entry = self.listen.as_mut_ptr();
            envp.push(entry.cast_const().cast());
            // SAFETY: LISTEN_PREFIX.len() < LISTEN_BUF_LEN, so the result
            // stays inside `self.listen`.
            unsafe { entry.add(LISTEN_PREFIX.len()) }
        } else {
            ptr::null_mut()
        };
        envp.push(ptr::null());

        self.plan.clear();
        self.plan
            .extend(cmd.stdio.iter().chain(cmd.fds).map(|fd| fd.as_raw_fd()));

        let cpus = match cmd.cpus {
            None => ptr::null(),
            Some(list) => {
                self.cpus = [0; CPU_WORDS];
                for &cpu in list {
                    let word =
                        self.cpus
                            .get_mut(cpu / 64)
                            .ok_or_else(|| SpawnError::CpuOutOfRange {
                                path: path_str(),
                                cpu,
                                limit: CPU_SETSIZE,
                            })?;
                    *word |= 1 << (cpu % 64);
                }
                self.cpus.as_ptr()
            }
        };

        let args = ChildArgs {
            path: cmd.path.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            plan: self.plan.as_mut_ptr(),
            plan_len: self.plan.len(),
            listen_digits,
            cpus,
            nice: cmd.nice.unwrap_or(0),
            set_nice: cmd.nice.is_some(),
            nofile: self.child_nofile.unwrap_or(libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            }),
            set_nofile: self.child_nofile.is_some(),
            max_signal: libc::SIGRTMAX(),
            default_action: [0; KERNEL_SIGACTION_WORDS],
            sigset_size: (libc::SIGRTMAX() as usize).div_ceil(8),
            empty_mask: sigset(false),
            failed_step: AtomicU32::new(Step::None as u32),
            errno: AtomicI32::new(0),
        };

        let mut pidfd: c_int = -1;
        let pid = {
            let _blocked = BlockAllSignals::new();
            // SAFETY: `stack_top` is the (16-byte aligned, page aligned) end
            // of our stack mapping, which nothing else uses while we hold
            // `&mut self`. With CLONE_VM | CLONE_VFORK this thread stays
            // suspended until the child has exec'd or exited, so `args`,
            // `argv`, `envp`, `self.plan`, `self.listen` and `self.cpus` —
            // all of which the child reads or writes through raw pointers —
            // stay alive and untouched by us for as long as the child uses
            // them. `child_main` obeys the child rules in the module docs.
            // With CLONE_PIDFD the kernel stores the pidfd through the
            // parent_tid argument, which points at a live c_int.
            unsafe {
                let stack_top = self.stack_base.cast::<u8>().add(self.stack_len).cast();
                libc::clone(
                    child_main,
                    stack_top,
                    libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
                    ptr::from_ref(&args).cast_mut().cast(),
                    ptr::from_mut(&mut pidfd),
                )
            }
        };
        if pid < 0 {
            return Err(SpawnError::Clone {
                path: path_str(),
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: clone succeeded with CLONE_PIDFD, so `pidfd` is a new fd
        // owned by nobody else.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };

        // The child is done with `args` (vfork semantics); Relaxed suffices
        // because the kernel orders the child's writes before our wake-up.
        let step = args.failed_step.load(Ordering::Relaxed);
        if step == Step::None as u32 {
            return Ok(Child { pid, pidfd });
        }
        let errno = io::Error::from_raw_os_error(args.errno.load(Ordering::Relaxed));
        // The child has called (or is about to finish) _exit(127): reap it
        // so it does not linger as a zombie. Its status is known already.
        let _ = crate::wait(std::os::fd::AsFd::as_fd(&pidfd));
        Err(match Step::from_u32(step) {
            Step::Exec => SpawnError::Exec {
                path: path_str(),
                error: errno,
            },
            other => SpawnError::ChildSetup {
                step: other.verb(),
                path: path_str(),
                source: errno,
            },
        })
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // SAFETY: the mapping was created in `new` with exactly this base and
        // length, and no child can be using it: `spawn` only returns after
        // the child has exec'd or exited.
        let _ = unsafe { rustix::mm::munmap(self.stack_base, self.stack_len) };
    }
}

/// Which child step failed; stored in [`ChildArgs::failed_step`].
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum Step {
    None = 0,
    MoveFds,
    InstallFds,
    CloseFds,
    Affinity,
    Nice,
    Exec,
    Rlimit,
}

impl Step {
    fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::MoveFds,
            2 => Self::InstallFds,
            3 => Self::CloseFds,
            4 => Self::Affinity,
            5 => Self::Nice,
            6 => Self::Exec,
            7 => Self::Rlimit,
            _ => Self::None,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::None => "set up the process",
            Self::MoveFds => "move fds out of the way",
            Self::InstallFds => "install fds",
            Self::CloseFds => "close inherited fds",
            Self::Affinity => "set the cpu affinity",
            Self::Nice => "set the nice value",
            Self::Exec => "execute",
            Self::Rlimit => "set the fd limit",
        }
    }
}

/// Everything the child reads, prepared by the parent; lives on the
/// parent's stack for the duration of `clone`.
struct ChildArgs {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// `plan_len` source fds; entry i becomes fd i.
    plan: *mut c_int,
    plan_len: usize,
    /// Where the child writes its pid's digits and a NUL (room for 11
    /// bytes), or null when no LISTEN_PID is wanted.
    listen_digits: *mut u8,
    /// A CPU_SETSIZE-bit mask, or null.
    cpus: *const u64,
    nice: c_int,
    set_nice: bool,
    nofile: libc::rlimit,
    set_nofile: bool,
    /// Highest signal number to reset.
    max_signal: c_int,
    /// A zeroed kernel `struct sigaction`: SIG_DFL, no flags, empty mask.
    default_action: [u64; KERNEL_SIGACTION_WORDS],
    /// The kernel's sizeof(sigset_t), as rt_sigaction wants it.
    sigset_size: usize,
    empty_mask: libc::sigset_t,
    /// Written by the child before `_exit(127)`.
    failed_step: AtomicU32,
    errno: AtomicI32,
}

/// The child's entry point, called by glibc's clone on our stack.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `&ChildArgs` the parent passed to clone; it stays
    // valid and unmodified by the parent until this child execs or exits
    // (CLONE_VFORK). Only atomics are written through the shared reference.
    let args = unsafe { &*arg.cast_const().cast::<ChildArgs>() };
    // SAFETY: `args` was prepared by `Spawner::spawn`, so every pointer in it
    // satisfies the contract documented on `child_run`.
    unsafe { child_run(args) }
}

/// Records which step failed and with what errno, then exits without running
/// any atexit handler or flushing any (shared!) stdio buffer.
fn child_fail(args: &ChildArgs, step: Step) -> ! {
    // SAFETY: __errno_location returns this thread's errno slot, always
    // valid. (Without CLONE_SETTLS the child uses the parent thread's TLS,
    // and the parent thread is suspended.)
    let errno = unsafe { *libc::__errno_location() };
    args.errno.store(errno, Ordering::Relaxed);
    args.failed_step.store(step as u32, Ordering::Relaxed);
    // SAFETY: _exit is always safe to call; it never returns.
    unsafe { libc::_exit(127) }
}

/// The child's steps, in order: signal dispositions, fd plan, LISTEN_PID,
/// affinity and nice, signal mask, execve.
///
/// # Safety
///
/// Must run only in a `CLONE_VM | CLONE_VFORK` child with all signals
/// blocked, and `args` must come from `Spawner::spawn`: `path` a C string;
/// `argv`/`envp` NULL-terminated arrays of C strings; `plan` `plan_len`
/// writable ints; `listen_digits` null or 11 writable bytes; `cpus` null or
/// `CPU_WORDS` u64s.
unsafe fn child_run(args: &ChildArgs) -> ! {
    // 1. Default dispositions. Handlers would be reset by execve anyway, but
    // only here do they matter: with signals unblocked before exec, a parent
    // handler would run in the child on shared memory. Ignored signals
    // survive execve (Rust ignores SIGPIPE), so they must be reset too. We
    // use the raw rt_sigaction syscall because glibc's sigaction refuses its
    // two internal signals (32, 33), and those can be inherited as ignored
    // (ned's own test process was seen with signal 32 ignored). An
    // all-zero kernel `struct sigaction` means SIG_DFL, no flags, empty mask
    // on every architecture, whatever its field order. SIGKILL and SIGSTOP
    // return EINVAL, which is expected and ignored.
    let mut sig: c_int = 1;
    while sig <= args.max_signal {
        // SAFETY: `default_action` is KERNEL_SIGACTION_WORDS zeroed words, at
        // least the kernel's sizeof(struct sigaction); the old-action pointer
        // is NULL; `sigset_size` is the kernel's sizeof(sigset_t).
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                args.default_action.as_ptr(),
                ptr::null_mut::<c_void>(),
                args.sigset_size,
            )
        };
        sig += 1;
    }

    // 2. The fd plan. The fd table is our own copy (no CLONE_FILES). First
    // move every source that is itself a target (< plan_len) above the
    // targets, so that no dup2 below can overwrite a source still needed.
    let count = args.plan_len;
    let mut i = 0;
    while i < count {
        // SAFETY: i < plan_len, inside the parent's plan buffer.
        let slot = unsafe { args.plan.add(i) };
        // SAFETY: as above; the parent is suspended, we are the only user.
        let src = unsafe { *slot };
        if (src as usize) < count {
            // SAFETY: F_DUPFD_CLOEXEC takes an int argument; `src` is open.
            let moved = unsafe { libc::fcntl(src, libc::F_DUPFD_CLOEXEC, count as c_int) };
            if moved < 0 {
                child_fail(args, Step::MoveFds);
            }
            // SAFETY: same slot as above.
            unsafe { *slot = moved };
        }
        i += 1;
    }
    // Now every source is >= count: dup2 each into place. The new fds are
    // not close-on-exec (dup2 clears the flag).
    let mut target = 0;
    while target < count {
        // SAFETY: target < plan_len.
        let src = unsafe { *args.plan.add(target) };
        // SAFETY: plain syscall on fd numbers; src is open.
        if unsafe { libc::dup2(src, target as c_int) } < 0 {
            child_fail(args, Step::InstallFds);
        }
        target += 1;
    }
    // Close everything else: fds opened without CLOEXEC by any thread of
    // ned, and the moved copies. close_range: Linux 5.9; called through
    // syscall() so we do not depend on glibc >= 2.34.
    // SAFETY: close_range(first, last, flags) only closes fds in our own
    // (copied) table.
    if unsafe {
        libc::syscall(
            libc::SYS_close_range,
            count as c_uint,
            c_uint::MAX,
            0 as c_uint,
        )
    } < 0
    {
        child_fail(args, Step::CloseFds);
    }

    // 3. LISTEN_PID: our own pid, formatted by hand (no allocation).
    if !args.listen_digits.is_null() {
        // SAFETY: getpid cannot fail.
        let pid = unsafe { libc::getpid() } as u32;
        let mut digits = 1usize;
        let mut rest = pid / 10;
        while rest > 0 {
            digits += 1;
            rest /= 10;
        }
        // A u32 has at most 10 digits, the buffer holds 10 plus a NUL.
        let mut rest = pid;
        let mut pos = digits;
        while pos > 0 {
            pos -= 1;
            // SAFETY: pos < digits <= 10, inside the 11-byte buffer.
            unsafe { *args.listen_digits.add(pos) = b'0'.wrapping_add((rest % 10) as u8) };
            rest /= 10;
        }
        // SAFETY: digits <= 10, inside the 11-byte buffer.
        unsafe { *args.listen_digits.add(digits) = 0 };
    }

    // 4. CPU affinity and nice value.
    if !args.cpus.is_null() {
        // SAFETY: `cpus` points at CPU_WORDS u64s = 128 bytes, the size and
        // layout of glibc's cpu_set_t (a bitmask of unsigned longs).
        let rc =
            unsafe { libc::sched_setaffinity(0, CPU_WORDS * size_of::<u64>(), args.cpus.cast()) };
        if rc < 0 {
            child_fail(args, Step::Affinity);
        }
    }
    if args.set_nice {
        // SAFETY: plain syscall; who = 0 means this process.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, args.nice) } < 0 {
            child_fail(args, Step::Nice);
        }
    }

    if args.set_nofile {
        // SAFETY: `nofile` is an initialised rlimit owned by the suspended
        // parent; setrlimit is a plain system call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &args.nofile) } < 0 {
            child_fail(args, Step::Rlimit);
        }
    }

    // 5. Empty signal mask (it survives execve), then exec. Unblocking last
    // keeps the set-up uninterrupted; dispositions are already default, so
    // a pending signal now takes its default action, as it would after exec.
    // SAFETY: `empty_mask` is an initialised sigset_t; old-mask is NULL.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &args.empty_mask, ptr::null_mut()) };
    // SAFETY: path is a C string; argv and envp are NULL-terminated arrays
    // of C strings, all owned by the suspended parent.
    unsafe { libc::execve(args.path, args.argv, args.envp) };
    child_fail(args, Step::Exec)
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
