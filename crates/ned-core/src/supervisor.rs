//! The supervisor: starts tasks, watches their pidfds and log pipes in one
//! epoll set, records exits and turns ned's own signals into events.
//!
//! Each exit is reported once, as [`Event::Exited`], when the loop sees the
//! task's pidfd become readable; before that the task's log pipe is drained so
//! that its last lines print before anything reacts to its death. Reaping uses
//! `waitid(P_PIDFD)` on the task's own pidfd, never `waitpid(-1)`, so ned never
//! steals the exit of a process it did not start.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

pub use ned_spawn::Exit;
use ned_spawn::{Command, SignalFd, Spawner};
use rustix::event::epoll;

use crate::cap::{Cap, CapError, Granted};
use crate::log::{Color, LogMux, StreamId};

/// Errors of the supervisor; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("failed to set up the event loop")]
    Setup(#[source] io::Error),
    #[error("failed to set up signal handling")]
    Signals(#[source] ned_spawn::SpawnError),
    #[error("failed to wait for events")]
    Poll(#[source] io::Error),
    #[error("failed to open the log pipe")]
    LogPipe(#[source] io::Error),
    #[error("failed to grant capability '{name}'")]
    Grant {
        name: String,
        #[source]
        source: CapError,
    },
    #[error("{0}")]
    Spawn(#[source] ned_spawn::SpawnError),
    #[error("failed to signal task {pid}")]
    Signal {
        pid: i32,
        #[source]
        source: ned_spawn::SpawnError,
    },
}

/// A task's identity inside this ned; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskId(pub u64);

/// Where a task's stdout and stderr go.
#[derive(Clone, Debug)]
pub enum LogTarget {
    /// ned's own stdin/stdout/stderr (`log = L4.Env.log`).
    Console,
    /// A pipe into the multiplexer with this tag and colour.
    Tagged(String, Color),
}

/// Everything needed to start one task; the caller resolved the program.
pub struct StartSpec {
    pub path: CString,
    pub argv: Vec<CString>,
    /// `K=V` entries; `LISTEN_*` entries are replaced by ned's own.
    pub env: Vec<CString>,
    /// Granted caps, any order; they become fds 3.. in name order.
    pub caps: Vec<(String, Cap)>,
    pub log: LogTarget,
    pub cpus: Option<Vec<usize>>,
    pub nice: Option<i32>,
}

/// What the script sees of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    Running,
    /// Exited and recorded by the loop, not yet reaped by the script.
    Zombie(Exit),
}

struct Task {
    pid: i32,
    /// Closed as soon as the exit is collected: a reaped process needs no fd,
    /// and exited tasks the script never waits for must not pile up fds
    /// (each one would also be copied into, and closed in, every later
    /// child's fd table before its exec).
    pidfd: Option<OwnedFd>,
    stream: Option<StreamId>,
    state: TaskState,
    /// The script gave the task up (`wait()` returned or `kill()`); the entry
    /// goes away as soon as the process is gone.
    released: bool,
}

/// Something the loop observed that the script layer may react to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Exited(TaskId, Exit),
    Signal(i32),
}

const TOKEN_PIDFD: u64 = 0;
const TOKEN_LOG: u64 = 1;
const TOKEN_SIGNAL: u64 = 2;

fn token(kind: u64, id: u64) -> epoll::EventData {
    epoll::EventData::new_u64(id << 2 | kind)
}

/// The signals ned handles itself: they end the serve loop.
pub const SHUTDOWN_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

pub struct Supervisor {
    epoll: OwnedFd,
    signals: SignalFd,
    spawner: Spawner,
    dev_null: OwnedFd,
    log: LogMux,
    tasks: HashMap<u64, Task>,
    next: u64,
}

impl Supervisor {
    /// Blocks [`SHUTDOWN_SIGNALS`] for the whole process (call it before any
    /// thread starts) and prints task logs to `log`.
    pub fn new(log: LogMux) -> Result<Supervisor, SupervisorError> {
        let setup = |e: rustix::io::Errno| SupervisorError::Setup(e.into());
        let signals = SignalFd::new(&SHUTDOWN_SIGNALS).map_err(SupervisorError::Signals)?;
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(setup)?;
        epoll::add(
            &epoll,
            signals.fd(),
            token(TOKEN_SIGNAL, 0),
            epoll::EventFlags::IN,
        )
        .map_err(setup)?;
        let dev_null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(setup)?;
        let mut spawner = Spawner::new().map_err(SupervisorError::Spawn)?;
        // Two fds per task (pidfd, log pipe): raise the soft limit to the
        // hard one, and give tasks the limit ned was started with.
        let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        if let (Some(cur), Some(max)) = (lim.current, lim.maximum)
            && cur < max
        {
            let raised = rustix::process::Rlimit {
                current: Some(max),
                maximum: Some(max),
            };
            if rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).is_ok() {
                spawner.set_child_nofile(cur, max);
            }
        }
        Ok(Supervisor {
            epoll,
            signals,
            spawner,
            dev_null,
            log,
            tasks: HashMap::new(),
            next: 0,
        })
    }

    /// Starts a task. On error nothing is left behind: no process, no fd.
    pub fn start(&mut self, mut spec: StartSpec) -> Result<(TaskId, i32), SupervisorError> {
        spec.caps.sort_by(|a, b| a.0.cmp(&b.0));
        let mut granted = Vec::with_capacity(spec.caps.len());
        for (name, cap) in &spec.caps {
            granted.push(cap.grant().map_err(|source| SupervisorError::Grant {
                name: name.clone(),
                source,
            })?);
        }
        let fds: Vec<BorrowedFd<'_>> = granted.iter().map(Granted::as_fd).collect();
        let mut env: Vec<CString> = spec
            .env
            .into_iter()
            .filter(|e| !e.as_bytes().starts_with(b"LISTEN_"))
            .collect();
        if !fds.is_empty() {
            env.push(listen_var("LISTEN_FDS", &fds.len().to_string()));
            let names: Vec<&str> = spec.caps.iter().map(|(n, _)| n.as_str()).collect();
            env.push(listen_var("LISTEN_FDNAMES", &names.join(":")));
        }
        let (stream, log_write) = match &spec.log {
            LogTarget::Console => (None, None),
            LogTarget::Tagged(tag, color) => {
                let (id, w) = self
                    .log
                    .open(tag, *color)
                    .map_err(SupervisorError::LogPipe)?;
                (Some(id), Some(w))
            }
        };
        let stdio = match &log_write {
            Some(w) => [self.dev_null.as_fd(), w.as_fd(), w.as_fd()],
            None => [
                rustix::stdio::stdin(),
                rustix::stdio::stdout(),
                rustix::stdio::stderr(),
            ],
        };
        let cmd = Command {
            path: &spec.path,
            argv: &spec.argv,
            env: &env,
            stdio,
            fds: &fds,
            listen_pid: !fds.is_empty(),
            cpus: spec.cpus.as_deref(),
            nice: spec.nice,
        };
        let spawned = self.spawner.spawn(&cmd);
        drop(log_write);
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                if let Some(id) = stream {
                    // Nothing was written: closing prints nothing.
                    let _ = self.log.close(id);
                }
                return Err(SupervisorError::Spawn(e));
            }
        };
        let id = self.next;
        self.next += 1;
        let setup = |e: rustix::io::Errno| SupervisorError::Setup(e.into());
        epoll::add(
            &self.epoll,
            &child.pidfd,
            token(TOKEN_PIDFD, id),
            epoll::EventFlags::IN,
        )
        .map_err(setup)?;
        if let Some(sid) = stream
            && let Some(fd) = self.log.fd(sid)
        {
            epoll::add(
                &self.epoll,
                fd,
                token(TOKEN_LOG, sid.0 as u64),
                epoll::EventFlags::IN,
            )
            .map_err(setup)?;
        }
        self.tasks.insert(
            id,
            Task {
                pid: child.pid,
                pidfd: Some(child.pidfd),
                stream,
                state: TaskState::Running,
                released: false,
            },
        );
        Ok((TaskId(id), child.pid))
    }

    /// Waits up to `timeout` (`None`: forever) for activity, handles it and
    /// returns the exits and signals seen. Interrupted waits return no events.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<Vec<Event>, SupervisorError> {
        let ts = timeout.map(|t| rustix::event::Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: t.subsec_nanos() as i64,
        });
        // epoll events hold a raw pointer, which is not Send, so the buffer
        // lives on the stack of this call rather than in the supervisor.
        let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events),
            ts.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Vec::new()),
            Err(e) => return Err(SupervisorError::Poll(e.into())),
        }
        let ready: Vec<u64> = events.iter().map(|e| e.data.u64()).collect();
        let mut out = Vec::new();
        for t in ready {
            let (kind, id) = (t & 3, t >> 2);
            match kind {
                TOKEN_LOG => self.pump(StreamId(id as usize)),
                TOKEN_PIDFD => {
                    if let Some(exit) = self.reap(id) {
                        out.push(Event::Exited(TaskId(id), exit));
                    }
                }
                _ => {
                    while let Ok(Some(sig)) = self.signals.read() {
                        out.push(Event::Signal(sig));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Prints what a stream has; a failing sink must not stop the loop, so
    /// the error goes to ned's stderr.
    fn pump(&mut self, id: StreamId) {
        if let Err(e) = self.log.pump(id) {
            crate::diag!("ned: failed to print task log: {e}");
        }
    }

    /// Collects the exit of task `id`, whose pidfd is readable.
    fn reap(&mut self, id: u64) -> Option<Exit> {
        let task = self.tasks.get(&id)?;
        let exit = match ned_spawn::try_wait(task.pidfd.as_ref()?.as_fd()) {
            Ok(Some(exit)) => exit,
            Ok(None) => return None,
            Err(e) => {
                crate::diag!("ned: failed to reap task {}: {e}", task.pid);
                return None;
            }
        };
        if let Some(sid) = task.stream {
            // Drain what the task wrote before it died so its last lines come
            // before anything that reacts to its exit.
            while self.log.fd(sid).is_some() {
                match self.log.pump(sid) {
                    Ok(true) if self.pipe_has_data(sid) => continue,
                    _ => break,
                }
            }
        }
        let task = self.tasks.get_mut(&id)?;
        if let Some(pidfd) = task.pidfd.take() {
            let _ = epoll::delete(&self.epoll, &pidfd);
        }
        if task.released {
            self.tasks.remove(&id);
            return None;
        }
        task.state = TaskState::Zombie(exit);
        Some(exit)
    }

    fn pipe_has_data(&self, sid: StreamId) -> bool {
        let Some(fd) = self.log.fd(sid) else {
            return false;
        };
        readable(fd)
    }

    /// A shutdown signal that arrived, if any, without waiting. For callers
    /// that cannot return to the loop soon (a long-running script).
    pub fn take_signal(&self) -> Option<i32> {
        self.signals.read().ok().flatten()
    }

    /// A thread-safe check whether a shutdown signal is waiting, which does
    /// not consume it: for code that runs long outside ned's loop (Lunatik
    /// runtimes), so it can give control back; the loop then reads the
    /// signal as usual.
    pub fn shutdown_pending(
        &self,
    ) -> Result<impl Fn() -> bool + Send + Sync + 'static, SupervisorError> {
        let fd = self
            .signals
            .fd()
            .try_clone_to_owned()
            .map_err(SupervisorError::Setup)?;
        Ok(move || readable(fd.as_fd()))
    }

    /// The task's state; `None` once the script released it.
    pub fn state(&self, id: TaskId) -> Option<TaskState> {
        self.tasks
            .get(&id.0)
            .filter(|t| !t.released)
            .map(|t| t.state)
    }

    pub fn pid(&self, id: TaskId) -> Option<i32> {
        self.tasks.get(&id.0).map(|t| t.pid)
    }

    /// The script is done with the task (`wait()` returned, or `kill()`).
    pub fn release(&mut self, id: TaskId) {
        if let Some(task) = self.tasks.get_mut(&id.0) {
            match task.state {
                TaskState::Zombie(_) => {
                    self.tasks.remove(&id.0);
                }
                TaskState::Running => task.released = true,
            }
        }
    }

    /// Sends `sig` to a task that has not been reaped.
    pub fn signal(&self, id: TaskId, sig: i32) -> Result<(), SupervisorError> {
        let Some(task) = self.tasks.get(&id.0) else {
            return Ok(());
        };
        let sent = match &task.pidfd {
            Some(pidfd) => ned_spawn::send_signal(pidfd.as_fd(), sig),
            // Reaped and its pidfd closed: what the kernel answers then.
            None => Err(ned_spawn::SpawnError::SignalGone { sig }),
        };
        sent.map_err(|source| SupervisorError::Signal {
            pid: task.pid,
            source,
        })
    }

    /// Tasks whose process is still alive, released or not.
    pub fn live(&self) -> usize {
        self.tasks
            .values()
            .filter(|t| t.state == TaskState::Running)
            .count()
    }

    /// Terminates every live task: SIGTERM, then SIGKILL for those still alive
    /// after `grace`. Returns the exits of tasks the script still holds.
    pub fn shutdown(&mut self, grace: Duration) -> Vec<Event> {
        let mut out = Vec::new();
        self.signal_all(libc::SIGTERM);
        let deadline = Instant::now() + grace;
        let mut killed = false;
        while self.live() > 0 {
            let now = Instant::now();
            if now >= deadline && !killed {
                self.signal_all(libc::SIGKILL);
                killed = true;
            }
            let wait = if killed {
                Duration::from_millis(100)
            } else {
                deadline - now
            };
            match self.poll(Some(wait)) {
                Ok(events) => out.extend(
                    events
                        .into_iter()
                        .filter(|e| matches!(e, Event::Exited(..))),
                ),
                Err(e) => {
                    crate::diag!("ned: {e}");
                    break;
                }
            }
        }
        out
    }

    fn signal_all(&self, sig: i32) {
        for task in self.tasks.values() {
            if let (TaskState::Running, Some(pidfd)) = (task.state, &task.pidfd) {
                // A task that exited meanwhile is no error.
                let _ = ned_spawn::send_signal(pidfd.as_fd(), sig);
            }
        }
    }
}

/// Whether `fd` has something to read right now (a zero-timeout poll).
fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    matches!(
        rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())),
        Ok(n) if n > 0
    )
}

fn listen_var(key: &str, value: &str) -> CString {
    // Keys are constants and values are digits or cap names, which the
    // binding layer already checked for NUL bytes.
    CString::new(format!("{key}={value}")).unwrap_or_default()
}
