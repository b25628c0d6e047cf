//! The supervisor: starts tasks, watches their pidfds and log pipes through
//! the [`Reactor`], drives each task's [state machine](crate::task) and
//! keeps the one queue of events the script layer dispatches.
//!
//! Each exit is reported once, as [`Event::Exited`], when the loop sees the
//! task's pidfd become readable; before that, what the task's log pipe held
//! at that moment is printed, so that its last lines come before anything
//! that reacts to its death. Reaping uses `waitid(P_PIDFD)` on the task's
//! own pidfd, never `waitpid(-1)`, so ned never steals the exit of a
//! process it did not start.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use ned_spawn::Exit;
use ned_spawn::{Child, Command, Spawner};

use crate::cap::{Cap, Kind};
use crate::log::{Color, LogMux, Pumped, StreamId};
use crate::object::{Cx, Service, ServiceError};
use crate::reactor::{Reactor, Token};
use crate::rights::Rights;
pub use crate::shutdown::{Reason, SHUTDOWN_SIGNALS, Shutdown};
use crate::task::{self, Ended, Input, Output, State};

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
        source: ServiceError,
    },
    #[error("{0}")]
    Spawn(#[source] ned_spawn::SpawnError),
    #[error("failed to watch the new task {pid}")]
    Watch {
        pid: i32,
        #[source]
        source: io::Error,
    },
    #[error("failed to signal task {pid}")]
    Signal {
        pid: i32,
        #[source]
        source: ned_spawn::SpawnError,
    },
    #[error("ned is shutting down: no new task is started")]
    ShuttingDown,
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

/// The state of a task as the script layer sees it.
pub type TaskState = State;

struct Task {
    pid: i32,
    /// Closed as soon as the exit is collected: a reaped process needs no fd,
    /// and exited tasks the script never waits for must not pile up fds.
    pidfd: Option<OwnedFd>,
    stream: Option<StreamId>,
    state: State,
    /// The channels (by object address) this task holds with `c`: while
    /// one lives, a `create` forwarded to that channel may still be answered.
    serves: Vec<usize>,
}

/// Something the loop observed that the script layer reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Exited(TaskId, Ended),
}

/// Why [`Supervisor::run_until`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The condition holds.
    Done,
    /// The deadline passed first.
    Deadline,
    /// Shutdown was requested first (only when asked to stop for it).
    Shutdown(Reason),
}

pub struct Supervisor {
    pub(crate) reactor: Reactor,
    shutdown: Arc<Shutdown>,
    spawner: Spawner,
    dev_null: OwnedFd,
    pub(crate) log: LogMux,
    tasks: HashMap<u64, Task>,
    /// ned's object service (crate::object).
    pub(crate) objects: Service,
    /// The connection of a forwarded `create` became readable.
    pub(crate) forward_ready: bool,
    /// How long a forwarded `create` or a script's `query` waits.
    pub(crate) object_wait: Duration,
    events: VecDeque<Event>,
    next: u64,
}

impl Supervisor {
    /// Blocks the signals ned reads (call it before any thread starts) and
    /// prints task logs to `log`.
    pub fn new(log: LogMux) -> Result<Supervisor, SupervisorError> {
        let setup = |e: rustix::io::Errno| SupervisorError::Setup(e.into());
        let shutdown = Arc::new(Shutdown::new()?);
        let reactor = Reactor::new().map_err(SupervisorError::Setup)?;
        for fd in shutdown.fds() {
            reactor
                .add(fd, Token::Shutdown)
                .map_err(SupervisorError::Setup)?;
        }
        reactor
            .add(log.space_fd(), Token::LogSpace)
            .map_err(SupervisorError::Setup)?;
        let dev_null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(setup)?;
        let mut spawner = Spawner::new().map_err(SupervisorError::Spawn)?;
        raise_nofile(&mut spawner);
        Ok(Supervisor {
            reactor,
            shutdown,
            spawner,
            dev_null,
            log,
            tasks: HashMap::new(),
            events: VecDeque::new(),
            next: 0,
            objects: Service::default(),
            forward_ready: false,
            object_wait: crate::object::wait_from_env(),
        })
    }

    /// The shutdown flag, for every check outside the loop (the count hook,
    /// Lunatik's interrupt).
    pub fn shutdown(&self) -> &Arc<Shutdown> {
        &self.shutdown
    }

    /// Starts a task. On error nothing is left behind: no process, no fd.
    pub fn start(&mut self, mut spec: StartSpec) -> Result<(TaskId, i32), SupervisorError> {
        if self.shutdown.check().is_some() {
            return Err(SupervisorError::ShuttingDown);
        }
        spec.caps.sort_by(|a, b| a.0.cmp(&b.0));
        let granted = self.grant_all(&spec.caps)?;
        let fds: Vec<BorrowedFd<'_>> = granted.iter().map(AsFd::as_fd).collect();
        let serves: Vec<usize> = spec
            .caps
            .iter()
            .filter(|(_, c)| c.kind() == Kind::Channel && c.rights.has(Rights::C))
            .map(|(_, c)| Arc::as_ptr(&c.object) as usize)
            .collect();
        let names: Vec<&str> = spec.caps.iter().map(|(n, _)| n.as_str()).collect();
        let env = listen_env(std::mem::take(&mut spec.env), &names);
        let (stream, log_write) = self.open_log(&spec.log)?;
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
        match spawned {
            Ok(child) => {
                let (id, pid) = self.watch(child, stream)?;
                if let Some(t) = self.tasks.get_mut(&id.0) {
                    t.serves = serves;
                }
                Ok((id, pid))
            }
            Err(e) => {
                if let Some(id) = stream {
                    // Nothing was written: closing prints nothing.
                    self.log.close(id);
                }
                Err(SupervisorError::Spawn(e))
            }
        }
    }

    /// A log stream for a tagged task: its id and the pipe's write end.
    fn open_log(
        &mut self,
        target: &LogTarget,
    ) -> Result<(Option<StreamId>, Option<OwnedFd>), SupervisorError> {
        match target {
            LogTarget::Console => Ok((None, None)),
            LogTarget::Tagged(tag, color) => {
                let (id, w) = self
                    .log
                    .open(tag, *color)
                    .map_err(SupervisorError::LogPipe)?;
                Ok((Some(id), Some(w)))
            }
        }
    }

    /// Puts a just-started child into the loop. If it cannot be watched it
    /// is killed and reaped here, so no process ned cannot see survives.
    fn watch(
        &mut self,
        child: Child,
        stream: Option<StreamId>,
    ) -> Result<(TaskId, i32), SupervisorError> {
        let id = TaskId(self.next);
        let mut watched = self.reactor.add(&child.pidfd, Token::Task(id));
        if watched.is_ok()
            && let Some(sid) = stream
            && let Some(fd) = self.log.fd(sid)
        {
            watched = self.reactor.add(fd, Token::Log(sid));
        }
        if let Err(source) = watched {
            self.reactor.remove(&child.pidfd);
            let _ = ned_spawn::send_signal(child.pidfd.as_fd(), libc::SIGKILL);
            let _ = ned_spawn::wait(child.pidfd.as_fd());
            if let Some(sid) = stream {
                self.log.close(sid);
            }
            return Err(SupervisorError::Watch {
                pid: child.pid,
                source,
            });
        }
        self.next += 1;
        self.tasks.insert(
            id.0,
            Task {
                pid: child.pid,
                pidfd: Some(child.pidfd),
                stream,
                state: State::Running { held: true },
                serves: Vec::new(),
            },
        );
        Ok((id, child.pid))
    }

    /// One turn of the loop: waits up to `timeout` (`None`: until something
    /// happens), then handles what is ready. Exits become task states and
    /// queued events; log lines are printed; signals feed the shutdown flag.
    pub fn turn(&mut self, timeout: Option<Duration>) -> Result<(), SupervisorError> {
        let mut ready = Vec::new();
        // Names the script registered since the last turn answer parked
        // queries now; the next parked deadline bounds the wait.
        self.recheck_objects();
        let timeout = match self.objects.next_deadline() {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Some(timeout.map_or(left, |t| t.min(left)))
            }
            None => timeout,
        };
        self.reactor
            .wait(timeout, &mut ready)
            .map_err(SupervisorError::Poll)?;
        for t in ready {
            match t {
                Token::Log(sid) => self.pump(sid),
                Token::LogSpace => self.rewatch_logs(),
                Token::Task(id) => self.collect(id),
                Token::Shutdown => self.shutdown.drain(),
                Token::Object(c) => {
                    let mut cx = Cx {
                        reactor: &self.reactor,
                        log: &mut self.log,
                    };
                    self.objects.ready(&mut cx, c);
                }
                Token::Forward => self.forward_ready = true,
            }
        }
        self.recheck_objects();
        Ok(())
    }

    /// Turns the loop until `done` holds, `deadline` passes or — when
    /// `stop_on_shutdown` — a signal or `os.exit` asks ned to stop. Every blocking mode of
    /// ned (`wait()`, serving, shutting down) is this with its own
    /// condition. Errors of the loop are reported and the loop goes on
    /// (after a short pause, so a persistent error cannot spin).
    pub fn run_until(
        &mut self,
        deadline: Option<Instant>,
        stop_on_shutdown: bool,
        mut done: impl FnMut(&Supervisor) -> bool,
    ) -> Until {
        loop {
            if done(self) {
                return Until::Done;
            }
            // The normal end (`Done`) stops no blocking mode: an exit
            // handler run then may still wait or sleep.
            if stop_on_shutdown
                && let Some(r) = self.shutdown.check()
                && r != Reason::Done
            {
                return Until::Shutdown(r);
            }
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Until::Deadline,
                },
            };
            if let Err(e) = self.turn(timeout) {
                crate::diag!("ned: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// The descriptors of `caps`, in order: served kinds are connections
    /// to the object service, tagged logs pipes into the multiplexer.
    fn grant_all(&mut self, caps: &[(String, Cap)]) -> Result<Vec<OwnedFd>, SupervisorError> {
        let mut cx = Cx {
            reactor: &self.reactor,
            log: &mut self.log,
        };
        caps.iter()
            .map(|(name, cap)| {
                self.objects
                    .hand_out(&mut cx, name, cap)
                    .map_err(|source| SupervisorError::Grant {
                        name: name.clone(),
                        source,
                    })
            })
            .collect()
    }

    fn recheck_objects(&mut self) {
        let mut cx = Cx {
            reactor: &self.reactor,
            log: &mut self.log,
        };
        self.objects.recheck(&mut cx);
    }

    /// The next event the script layer has not seen yet.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Prints what a stream has. When the console is full the pipe leaves
    /// the loop, so its task waits on it, until [`Token::LogSpace`]. A
    /// failing pipe must not stop the loop, so the error goes to stderr.
    fn pump(&mut self, id: StreamId) {
        match self.log.pump(id) {
            Ok(Pumped::Throttled) => {
                if let Some(fd) = self.log.fd(id) {
                    self.reactor.remove(fd);
                }
            }
            Ok(Pumped::Open | Pumped::Closed) => {}
            Err(e) => crate::diag!("ned: failed to read task log: {e}"),
        }
    }

    /// The console has room again: watch the throttled pipes again.
    fn rewatch_logs(&mut self) {
        for sid in self.log.on_space() {
            if let Some(fd) = self.log.fd(sid)
                && let Err(e) = self.reactor.add(fd, Token::Log(sid))
            {
                crate::diag!("ned: failed to watch a task log again: {e}");
            }
        }
    }

    /// Collects the end of task `id`, whose pidfd is readable. Every path
    /// out of here takes the pidfd out of the loop once the process is
    /// gone, so an exit is seen exactly once and a failing `waitid` cannot
    /// make the loop spin.
    fn collect(&mut self, id: TaskId) {
        let Some(task) = self.tasks.get(&id.0) else {
            return;
        };
        let Some(pidfd) = task.pidfd.as_ref() else {
            return;
        };
        let ended = match ned_spawn::try_wait(pidfd.as_fd()) {
            Ok(Some(exit)) => Ended::from(exit),
            Ok(None) => return,
            Err(e) => {
                crate::diag!(
                    "ned: task {} ended but its exit status is lost: {e}",
                    task.pid
                );
                Ended::Lost
            }
        };
        let stream = task.stream;
        if let Some(pidfd) = self.tasks.get_mut(&id.0).and_then(|t| t.pidfd.take()) {
            self.reactor.remove(&pidfd);
        }
        if let Some(sid) = stream {
            self.drain_snapshot(sid);
        }
        self.apply(id, Input::Exited(ended));
    }

    /// Prints what a stream held when its task ended, and no more (see
    /// [`LogMux::drain`]).
    fn drain_snapshot(&mut self, sid: StreamId) {
        if let Err(e) = self.log.drain(sid) {
            crate::diag!("ned: failed to read task log: {e}");
        }
    }

    /// Runs one transition of a task's state machine and its output.
    fn apply(&mut self, id: TaskId, input: Input) {
        let Some(t) = self.tasks.get_mut(&id.0) else {
            return;
        };
        let (next, out) = task::step(t.state, input);
        match next {
            Some(s) => t.state = s,
            None => {
                self.tasks.remove(&id.0);
            }
        }
        if let Output::Report(e) = out {
            self.events.push_back(Event::Exited(id, e));
        }
    }

    /// The task's state; `None` once the script released it.
    pub fn state(&self, id: TaskId) -> Option<State> {
        self.tasks
            .get(&id.0)
            .map(|t| t.state)
            .filter(|s| s.is_held())
    }

    pub fn pid(&self, id: TaskId) -> Option<i32> {
        self.tasks.get(&id.0).map(|t| t.pid)
    }

    /// The script is done with the task (`wait()` returned, or `kill()`).
    pub fn release(&mut self, id: TaskId) {
        self.apply(id, Input::Released);
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

    /// Whether a live task holds the channel at `object` (an `Arc` address)
    /// with `c`, and so may still answer on it.
    pub(crate) fn serving(&self, object: usize) -> bool {
        self.tasks
            .values()
            .any(|t| t.state.is_running() && t.serves.contains(&object))
    }

    /// Tasks whose process is still alive, released or not.
    pub fn live(&self) -> usize {
        self.tasks.values().filter(|t| t.state.is_running()).count()
    }

    /// Terminates every live task: SIGTERM, then SIGKILL for those still
    /// alive after `grace`. Their exits join the event queue. Marks ned as
    /// shutting down first (if nothing else did), so no exit handler can
    /// start a task that would outlive it.
    pub fn terminate_all(&mut self, grace: Duration) {
        self.shutdown.request(Reason::Done);
        self.signal_all(libc::SIGTERM);
        let no_live = |s: &Supervisor| s.live() == 0;
        if self.run_until(Some(Instant::now() + grace), false, no_live) == Until::Done {
            return;
        }
        self.signal_all(libc::SIGKILL);
        // SIGKILL cannot be refused; only a process stuck in the kernel
        // (uninterruptible sleep) outlives this bound.
        if self.run_until(Some(Instant::now() + KILL_BOUND), false, no_live) != Until::Done {
            crate::diag!("ned: {} task(s) did not die after SIGKILL", self.live());
        }
    }

    fn signal_all(&self, sig: i32) {
        for task in self.tasks.values() {
            if let (true, Some(pidfd)) = (task.state.is_running(), &task.pidfd) {
                // A task that exited meanwhile is no error.
                let _ = ned_spawn::send_signal(pidfd.as_fd(), sig);
            }
        }
    }
}

/// How long ned waits for tasks after SIGKILL before it gives up on them.
const KILL_BOUND: Duration = Duration::from_secs(5);

/// Two fds per task (pidfd, log pipe): raise the soft limit to the hard one,
/// and give tasks the limit ned was started with.
fn raise_nofile(spawner: &mut Spawner) {
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
}

/// The task's environment: the script's entries without `LISTEN_*`, plus
/// ned's own `LISTEN_FDS`/`LISTEN_FDNAMES` when caps are granted
/// (`LISTEN_PID` is written by the child itself).
fn listen_env(env: Vec<CString>, names: &[&str]) -> Vec<CString> {
    let mut env: Vec<CString> = env
        .into_iter()
        .filter(|e| !e.as_bytes().starts_with(b"LISTEN_"))
        .collect();
    if !names.is_empty() {
        env.push(listen_var("LISTEN_FDS", &names.len().to_string()));
        env.push(listen_var("LISTEN_FDNAMES", &names.join(":")));
    }
    env
}

fn listen_var(key: &str, value: &str) -> CString {
    // Keys are constants and values are digits or cap names, which the
    // binding layer already checked for NUL bytes.
    CString::new(format!("{key}={value}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::tests::{Sink, console};

    /// A child the loop cannot watch (here: its log pipe is already in the
    /// epoll set, so adding it fails) is killed and reaped by `watch`
    /// itself: the start fails and no process, zombie or entry is left.
    #[test]
    fn a_child_that_cannot_be_watched_is_killed_and_reaped() {
        let sink = Sink::default();
        let mut sup = Supervisor::new(LogMux::new(console(&sink), false)).unwrap();
        let (stream, write) = sup
            .open_log(&LogTarget::Tagged("t".into(), Color::WHITE))
            .unwrap();
        let sid = stream.unwrap();
        let write = write.unwrap();
        sup.reactor
            .add(sup.log.fd(sid).unwrap(), Token::Log(sid))
            .unwrap();
        let path = CString::new("/bin/sleep").unwrap();
        let argv = [path.clone(), CString::new("100").unwrap()];
        let cmd = Command {
            path: &path,
            argv: &argv,
            env: &[],
            stdio: [sup.dev_null.as_fd(), write.as_fd(), write.as_fd()],
            fds: &[],
            listen_pid: false,
            cpus: None,
            nice: None,
        };
        let child = sup.spawner.spawn(&cmd).unwrap();
        drop(write);
        let pid = child.pid;
        let err = sup.watch(child, stream).unwrap_err();
        assert!(matches!(err, SupervisorError::Watch { .. }), "{err}");
        // Reaped: the pid names no process (not even a zombie) any more.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "task {pid} left behind"
        );
        assert_eq!(sup.live(), 0);
        assert!(sup.tasks.is_empty());
    }
}
