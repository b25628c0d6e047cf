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
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use ned_spawn::Exit;
use ned_spawn::{Child, Command, Spawner};

use crate::cap::{Cap, Kind};
use crate::cgroup::{CgroupError, Cgroups, Limits};
use crate::control::{ClientId, Control, ControlError, Stop};
use crate::log::{Color, LogEvent, LogMux, Pumped, RECENT_LINES, StreamId, StreamSpec, Which};
use crate::notify::{Change, Notify, Watch};
use crate::object::{Cx, Service, ServiceError};
use crate::reactor::{Reactor, Token};
use crate::rights::Rights;
use crate::sandbox::{Prepared, Sandbox, SandboxError};
pub use crate::shutdown::{Reason, SHUTDOWN_SIGNALS, Shutdown};
use crate::task::{self, Ended, Input, Output, State};
use crate::timeline::{Fact, Timeline};
pub use crate::timer::TimerId;
use crate::timer::{Due, Timers};

mod mount_ns;
mod tree_kill;

use mount_ns::Releaser;

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
    #[error("failed to set up the task's cgroup")]
    Cgroup(#[source] CgroupError),
    #[error("ned is shutting down: no new task is started")]
    ShuttingDown,
    #[error("failed to set up the notify socket")]
    Notify(#[source] io::Error),
    #[error("failed to arm a timer")]
    Timer(#[source] io::Error),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// A task's identity inside this ned; never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

/// Where a task's stdout and stderr go.
#[derive(Clone, Debug)]
pub enum LogTarget {
    /// ned's own stdin/stdout/stderr (`log = L4.Env.log`).
    Console,
    /// A pipe into the multiplexer with this tag and colour.
    Tagged(String, Color),
    /// Pipes into the multiplexer, with files, times and so on.
    Stream(StreamSpec),
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
    /// Give the task `NOTIFY_SOCKET` ([`crate::notify`]).
    pub notify: bool,
    /// Give it `WATCHDOG_USEC` too, and kill it when it does not ping
    /// within this long (implies `notify`).
    pub watchdog: Option<Duration>,
    /// Confine the task ([`crate::sandbox`]); `None` runs it as ned runs.
    pub sandbox: Option<Sandbox>,
    /// Its cgroup and resource limits ([`crate::cgroup`]).
    pub limits: Limits,
}

/// The state of a task as the script layer sees it.
pub type TaskState = State;

struct Task {
    pid: i32,
    /// Closed as soon as the exit is collected: a reaped process needs no fd,
    /// and exited tasks the script never waits for must not pile up fds.
    pidfd: Option<OwnedFd>,
    stream: Option<StreamId>,
    /// Its log tag, for a console task its program's file name: the name
    /// events, the timeline, the prompt and `--exit-code-from` know it by.
    tag: String,
    state: State,
    /// Leads a process group of its own (every task not on ned's console).
    group: bool,
    /// The channels (by object address) this task holds with `c`: while
    /// one lives, a `create` forwarded to that channel may still be answered.
    serves: Vec<usize>,
    /// ned's reference to the task's own mount namespace (sandbox
    /// `mount`), so that the task's exit does not wait for its unmounting
    /// ([`mount_ns`]); released when the exit is collected.
    mount_ns: Option<OwnedFd>,
    facts: Facts,
}

/// What a task was started as, kept for [`Supervisor::tasks`].
struct Facts {
    caps: Vec<CapFact>,
    started: Instant,
    /// When the loop collected the exit.
    ended: Option<Instant>,
    /// Its log stream until the exit is recorded (the multiplexer frees
    /// the slot then, for a later task).
    log: Option<StreamId>,
    /// The stream's line count and recent lines, taken at the exit.
    kept: Option<(u64, Vec<Vec<u8>>)>,
    /// PID 1 of a PID namespace of its own (sandbox `pid`), to which the
    /// kernel delivers from outside only the signals it handles.
    ns_init: bool,
}

/// One cap a task was granted: its name, type and rights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapFact {
    pub name: String,
    pub kind: Kind,
    pub rights: Rights,
}

/// A read-only look at one task the supervisor knows (running, released
/// or not, or exited and still held), for the prompt's helpers.
#[derive(Clone, Copy, Debug)]
pub struct TaskView<'a> {
    pub id: TaskId,
    pub pid: i32,
    pub name: &'a str,
    pub state: State,
    pub caps: &'a [CapFact],
    pub started: Instant,
    pub ended: Option<Instant>,
    /// Lines its log printed (0 for a console task); the recent ones are
    /// [`Supervisor::log_tail`].
    pub lines: u64,
}

/// Something the loop observed that the script layer reacts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Exited(TaskId, Ended),
    /// A command client has a request waiting ([`Supervisor::take_command`]).
    Command(ClientId),
    /// A signal the script took with `L4.on_signal` arrived.
    Signal(i32),
    /// The task sent `READY=1`.
    Ready(TaskId),
    /// A script timer is due.
    Timer(TimerId),
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
    control: Control,
    /// SIGCHLD, read when ned reaps orphans (PID 1 or `--subreaper`).
    reaper: Option<ned_spawn::SignalFd>,
    /// `--exit-code-from TAG`: the tag, and the end of that task once seen.
    exit_from: Option<(String, Option<Ended>)>,
    timers: Timers,
    notify: Notify,
    timeline: Timeline,
    /// Drops reaped tasks' mount namespaces off the loop.
    mount_ns: Releaser,
    /// The tasks' cgroup leaves; last, so that it is dropped after
    /// everything else and removes ned's cgroup directories.
    cgroups: Cgroups,
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
        for fd in log.space_fds() {
            reactor
                .add(fd, Token::LogSpace)
                .map_err(SupervisorError::Setup)?;
        }
        let dev_null = rustix::fs::open(
            "/dev/null",
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(setup)?;
        let mut spawner = Spawner::new();
        raise_nofile(&mut spawner);
        let timers = Timers::new().map_err(SupervisorError::Setup)?;
        reactor
            .add(timers.fd(), Token::Timer)
            .map_err(SupervisorError::Setup)?;
        Ok(Supervisor {
            reactor,
            shutdown,
            spawner,
            dev_null,
            log,
            tasks: HashMap::new(),
            events: VecDeque::new(),
            next: 0,
            control: Control::default(),
            reaper: None,
            exit_from: None,
            objects: Service::default(),
            forward_ready: false,
            object_wait: crate::object::wait_from_env(),
            timers,
            notify: Notify::default(),
            timeline: Timeline::new(),
            mount_ns: Releaser::default(),
            cgroups: Cgroups::default(),
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
        let program = Path::new(std::ffi::OsStr::from_bytes(spec.path.as_bytes()));
        let prepared = match &spec.sandbox {
            Some(s) => Some(s.prepare(&spec.caps, program)?),
            None => None,
        };
        let isolation = prepared.as_ref().map(Prepared::isolation);
        let granted = self.grant_all(&spec.caps)?;
        let fds: Vec<BorrowedFd<'_>> = granted.iter().map(AsFd::as_fd).collect();
        let serves: Vec<usize> = spec
            .caps
            .iter()
            .filter(|(_, c)| c.kind() == Kind::Channel && c.rights.has(Rights::C))
            .map(|(_, c)| Arc::as_ptr(&c.object) as usize)
            .collect();
        let names: Vec<&str> = spec.caps.iter().map(|(n, _)| n.as_str()).collect();
        let mut env = listen_env(std::mem::take(&mut spec.env), &names);
        let notify = spec.notify || spec.watchdog.is_some();
        if notify {
            env.retain(|e| {
                !e.as_bytes().starts_with(b"NOTIFY_SOCKET=")
                    && !e.as_bytes().starts_with(b"WATCHDOG_")
            });
            env.push(self.open_notify()?);
            if let Some(t) = spec.watchdog {
                env.push(listen_var("WATCHDOG_USEC", &t.as_micros().to_string()));
            }
        }
        let name = task_name(&spec);
        let facts = Facts {
            caps: spec
                .caps
                .iter()
                .map(|(name, cap)| CapFact {
                    name: name.clone(),
                    kind: cap.kind(),
                    rights: cap.rights,
                })
                .collect(),
            started: Instant::now(),
            ended: None,
            log: None,
            kept: None,
            ns_init: spec.sandbox.as_ref().is_some_and(|s| s.pid),
        };
        let (stream, log_write) = self.open_log(&spec.log)?;
        let stdio = match &log_write {
            Some([out, err]) => [self.dev_null.as_fd(), out.as_fd(), err.as_fd()],
            None => [
                rustix::stdio::stdin(),
                rustix::stdio::stdout(),
                rustix::stdio::stderr(),
            ],
        };
        // The id `watch` will give the task, which keys its leaf.
        let procs = match self.cgroups.create(self.next, &name, &spec.limits) {
            Ok(procs) => procs,
            Err(e) => {
                if let Some(id) = stream {
                    self.log.close(id);
                }
                return Err(SupervisorError::Cgroup(e));
            }
        };
        let procs: Vec<BorrowedFd<'_>> = procs.iter().map(AsFd::as_fd).collect();
        let cmd = Command {
            path: &spec.path,
            argv: &spec.argv,
            env: &env,
            stdio,
            fds: &fds,
            listen_pid: !fds.is_empty(),
            cpus: spec.cpus.as_deref(),
            nice: spec.nice,
            // Console tasks share ned's group, and so the terminal's
            // foreground; every other task gets its own.
            new_group: log_write.is_some(),
            isolation: isolation.as_ref(),
            cgroup_procs: &procs,
            rlimits: &spec.limits.rlimits,
        };
        let spawned = self.spawner.spawn(&cmd);
        let group = log_write.is_some();
        drop(log_write);
        match spawned {
            Ok(child) => {
                let (id, pid) = match self.watch(child, stream, group, name.clone(), facts) {
                    Ok(started) => started,
                    Err(e) => {
                        // Killed and reaped by `watch`: its leaf goes.
                        self.cgroups.finish(self.next);
                        return Err(e);
                    }
                };
                if let Some(t) = self.tasks.get_mut(&id.0) {
                    t.serves = serves;
                    if spec.sandbox.as_ref().is_some_and(|s| s.mount) {
                        t.mount_ns = self.mount_ns.hold(pid);
                    }
                }
                if notify {
                    self.notify.register(id, pid, spec.watchdog);
                    if let Some(t) = spec.watchdog
                        && let Err(e) = self.timers.watchdog(id, Instant::now() + t)
                    {
                        crate::diag!("ned: failed to arm the watchdog of task {pid}: {e}");
                    }
                }
                let restart = self.timeline.starts_of(&name);
                self.record(id, Fact::Started { name, pid, restart });
                self.log_event(id, &LogEvent::Started { argv: &spec.argv });
                if restart > 0 {
                    self.log_event(id, &LogEvent::Restarted);
                }
                Ok((id, pid))
            }
            Err(e) => {
                if let Some(id) = stream {
                    // Nothing was written: closing prints nothing.
                    self.log.close(id);
                }
                self.cgroups.finish(self.next);
                Err(SupervisorError::Spawn(e))
            }
        }
    }

    /// A log stream for a tagged task: its id and the pipes' write ends.
    #[allow(clippy::type_complexity)]
    fn open_log(
        &mut self,
        target: &LogTarget,
    ) -> Result<(Option<StreamId>, Option<[OwnedFd; 2]>), SupervisorError> {
        let spec = match target {
            LogTarget::Console => return Ok((None, None)),
            LogTarget::Tagged(tag, color) => &StreamSpec::tagged(tag, *color),
            LogTarget::Stream(spec) => spec,
        };
        let (id, w) = self.log.open(spec).map_err(SupervisorError::LogPipe)?;
        Ok((Some(id), Some(w)))
    }

    /// Prints one of ned's events about task `id` as a log record
    /// ([`LogMux::event`]: always in JSON, in text with `--log-events`).
    /// Called where a task starts, restarts, becomes ready and ends.
    fn log_event(&mut self, id: TaskId, ev: &LogEvent<'_>) {
        if let Some(t) = self.tasks.get(&id.0) {
            self.log.event(t.stream, &t.tag, t.pid, ev);
        }
    }

    /// Puts a just-started child into the loop. If it cannot be watched it
    /// is killed and reaped here, so no process ned cannot see survives.
    fn watch(
        &mut self,
        child: Child,
        stream: Option<StreamId>,
        group: bool,
        tag: String,
        mut facts: Facts,
    ) -> Result<(TaskId, i32), SupervisorError> {
        let id = TaskId(self.next);
        let mut watched = self.reactor.add(&child.pidfd, Token::Task(id));
        if let Some(sid) = stream {
            self.log.set_pid(sid, child.pid);
            for which in [Which::Out, Which::Err] {
                if watched.is_ok()
                    && let Some(fd) = self.log.fd(sid, which)
                {
                    watched = self.reactor.add(fd, log_token(sid, which));
                }
            }
        }
        if let Err(source) = watched {
            self.reactor.remove(&child.pidfd);
            let _ = ned_spawn::send_signal(child.pidfd.as_fd(), libc::SIGKILL);
            let _ = ned_spawn::wait(child.pidfd.as_fd());
            if let Some(sid) = stream {
                for which in [Which::Out, Which::Err] {
                    if let Some(fd) = self.log.fd(sid, which) {
                        self.reactor.remove(fd);
                    }
                }
                self.log.close(sid);
            }
            return Err(SupervisorError::Watch {
                pid: child.pid,
                source,
            });
        }
        self.next += 1;
        facts.log = stream;
        self.tasks.insert(
            id.0,
            Task {
                pid: child.pid,
                pidfd: Some(child.pidfd),
                stream,
                state: State::Running { held: true },
                group,
                tag,
                serves: Vec::new(),
                mount_ns: None,
                facts,
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
        // A taken signal read elsewhere (the count hook, `wait()`) is
        // queued now, and the wait does not block on it.
        let timeout = if self.queue_taken_signals() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        self.reactor
            .wait(timeout, &mut ready)
            .map_err(SupervisorError::Poll)?;
        for t in ready {
            match t {
                Token::Log(sid) => self.pump(sid, Which::Out),
                Token::LogErr(sid) => self.pump(sid, Which::Err),
                Token::LogSpace => self.rewatch_logs(),
                Token::Task(id) => self.collect(id),
                Token::Shutdown => self.shutdown.drain(),
                Token::ControlListen(i) => self.control.accept(&self.reactor, i),
                Token::ControlClient(c) => {
                    if self.control.ready(&self.reactor, c) {
                        self.events.push_back(Event::Command(ClientId(c)));
                    }
                }
                Token::Child => self.drain_sigchld(),
                Token::Object(c) => {
                    let mut cx = Cx {
                        reactor: &self.reactor,
                        log: &mut self.log,
                    };
                    self.objects.ready(&mut cx, c);
                }
                Token::Forward => self.forward_ready = true,
                Token::Notify => self.on_notify(),
                Token::Timer => self.on_timer(),
            }
        }
        self.recheck_objects();
        self.queue_taken_signals();
        self.reap_orphans();
        self.cgroups.sweep();
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

    /// Serves the command protocol on a channel's listening socket.
    pub fn serve_commands(&mut self, listener: BorrowedFd<'_>) -> io::Result<()> {
        self.control.serve(&self.reactor, listener)
    }

    /// Serves the command protocol on a new socket at `path` (`--control`).
    pub fn listen_commands(&mut self, path: &std::path::Path) -> Result<(), ControlError> {
        self.control.listen_path(&self.reactor, path)
    }

    /// Instructions one command may run (0: no limit).
    pub fn set_command_budget(&mut self, instructions: u64) {
        self.control.budget = instructions;
    }

    /// The chunk of the request behind an `Event::Command`, marked as the
    /// running command until [`Supervisor::finish_command`]. `None` when
    /// the client left meanwhile.
    pub fn take_command(&mut self, id: ClientId) -> Option<Vec<u8>> {
        let (chunk, more) = self.control.take(&self.reactor, id)?;
        if more {
            self.events.push_back(Event::Command(id));
        }
        self.control.begin(id);
        Some(chunk)
    }

    /// Sends the reply of the running command; true when it had been
    /// stopped (cancelled, its client gone, or out of its budget).
    pub fn finish_command(&mut self, id: ClientId, status: i32, text: &[u8]) -> bool {
        let stopped = self.control.end();
        self.control.reply(&self.reactor, id, status, text);
        stopped
    }

    /// For the count hook: whether the running command must stop, and the
    /// error message to raise in it.
    pub fn command_stop(&mut self) -> Option<String> {
        let budget = self.control.budget;
        self.control.tick().map(|s: Stop| s.message(budget))
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
        let e = self.events.pop_front();
        if let Some(Event::Timer(id)) = e {
            self.timers.delivered(id);
        }
        e
    }

    /// Prints what a stream has. When the console is full the pipe leaves
    /// the loop, so its task waits on it, until [`Token::LogSpace`]. A
    /// failing pipe must not stop the loop, so the error goes to stderr.
    fn pump(&mut self, id: StreamId, which: Which) {
        match self.log.pump(id, which) {
            Ok(Pumped::Throttled) => {
                if let Some(fd) = self.log.fd(id, which) {
                    self.reactor.remove(fd);
                }
            }
            Ok(Pumped::Open | Pumped::Closed) => {}
            Err(e) => crate::diag!("ned: failed to read task log: {e}"),
        }
    }

    /// The console has room again: watch the throttled pipes again.
    fn rewatch_logs(&mut self) {
        for (sid, which) in self.log.on_space() {
            if let Some(fd) = self.log.fd(sid, which)
                && let Err(e) = self.reactor.add(fd, log_token(sid, which))
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
        if let Some(report) = self.cgroups.finish(id.0) {
            for line in report.lines(&task.tag, ended == Ended::Signal(libc::SIGKILL)) {
                crate::diag!("ned: {line}");
            }
        }
        self.note_exit_from(id, ended);
        if let Some(t) = self.tasks.get_mut(&id.0) {
            t.facts.ended = Some(Instant::now());
            if let Some(pidfd) = t.pidfd.take() {
                self.reactor.remove(&pidfd);
            }
            if let Some(ns) = t.mount_ns.take() {
                self.mount_ns.release(ns);
            }
        }
        if let Some(sid) = stream {
            self.drain_snapshot(sid);
        }
        self.notify.forget(id);
        self.record(id, Fact::Exited(ended));
        let ev = match ended {
            Ended::Code(c) => LogEvent::Exited(c),
            Ended::Signal(s) => LogEvent::Killed(s),
            Ended::Lost => LogEvent::Lost,
        };
        self.log_event(id, &ev);
        self.keep_log(id);
        if let Some(sid) = stream {
            self.log.release(sid);
        }
        self.apply(id, Input::Exited(ended));
    }

    /// Takes an ended task's log facts out of its stream before the
    /// stream is released, as a later task may reuse its slot.
    fn keep_log(&mut self, id: TaskId) {
        let Some(t) = self.tasks.get_mut(&id.0) else {
            return;
        };
        if let Some(sid) = t.facts.log.take() {
            t.facts.kept = Some((self.log.lines(sid), self.log.recent(sid, RECENT_LINES)));
        }
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

    /// The log hooks (crate::loghook), to add and remove them.
    pub fn log_hooks(&mut self) -> &mut crate::loghook::Hooks {
        self.log.hooks()
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

    /// Every task the supervisor knows, in start order.
    pub fn tasks(&self) -> Vec<TaskView<'_>> {
        let mut all: Vec<TaskView<'_>> = self
            .tasks
            .iter()
            .map(|(&id, t)| TaskView {
                id: TaskId(id),
                pid: t.pid,
                name: &t.tag,
                state: t.state,
                caps: &t.facts.caps,
                started: t.facts.started,
                ended: t.facts.ended,
                lines: match (&t.facts.kept, t.facts.log) {
                    (Some((n, _)), _) => *n,
                    (None, Some(sid)) => self.log.lines(sid),
                    (None, None) => 0,
                },
            })
            .collect();
        all.sort_by_key(|t| t.id.0);
        all
    }

    /// The last `n` lines of task `id`'s log that ned keeps (at most
    /// [`RECENT_LINES`]), oldest first; none for a console task.
    pub fn log_tail(&self, id: TaskId, n: usize) -> Vec<Vec<u8>> {
        let Some(t) = self.tasks.get(&id.0) else {
            return Vec::new();
        };
        match (&t.facts.kept, t.facts.log) {
            (Some((_, recent)), _) => recent[recent.len().saturating_sub(n)..].to_vec(),
            (None, Some(sid)) => self.log.recent(sid, n),
            (None, None) => Vec::new(),
        }
    }

    /// Tasks whose process is still alive, released or not.
    pub fn live(&self) -> usize {
        self.tasks.values().filter(|t| t.state.is_running()).count()
    }

    /// Terminates every live task's whole tree (see [`Supervisor::kill_all`]):
    /// SIGTERM, then SIGKILL for what is still alive after `grace`. Their
    /// exits join the event queue. Marks ned as shutting down first (if
    /// nothing else did), so no exit handler can start a task that would
    /// outlive it.
    pub fn terminate_all(&mut self, grace: Duration) {
        self.shutdown.request(Reason::Done);
        let mut outside = Vec::new();
        self.kill_all(libc::SIGTERM, &mut outside);
        let end = Instant::now() + grace;
        loop {
            // Processes that left ned's tree send no SIGCHLD to ned: while
            // one is left, the loop looks again every KILL_RETRY.
            let step = if outside.is_empty() {
                end
            } else {
                (Instant::now() + KILL_RETRY).min(end)
            };
            let gone = |s: &Supervisor| s.all_gone(&outside);
            if self.run_until(Some(step), false, gone) == Until::Done {
                return;
            }
            outside.retain(|fd| !crate::tree::has_exited(fd));
            if Instant::now() >= end {
                break;
            }
        }
        // SIGKILL cannot be refused; only a process stuck in the kernel
        // (uninterruptible sleep) outlives this bound. Sent again while
        // the bound lasts, for children forked meanwhile.
        let bound = Instant::now() + KILL_BOUND;
        loop {
            self.kill_all(libc::SIGKILL, &mut outside);
            let step = (Instant::now() + KILL_RETRY).min(bound);
            if self.run_until(Some(step), false, |s| s.all_gone(&outside)) == Until::Done {
                return;
            }
            if Instant::now() >= bound {
                break;
            }
        }
        crate::diag!(
            "ned: {} task(s) and {} other descendant(s) did not die after SIGKILL",
            self.live(),
            self.strays()
        );
    }
}

/// How often SIGKILL is sent again while a tree is still not empty.
const KILL_RETRY: Duration = Duration::from_millis(100);
// Readiness, timers and the timeline (crate::notify, crate::timer,
// crate::timeline): the supervisor's side of them.
impl Supervisor {
    /// `NOTIFY_SOCKET=...`, making the socket (and watching it) at first use.
    fn open_notify(&mut self) -> Result<CString, SupervisorError> {
        let (var, fresh) = self.notify.open().map_err(SupervisorError::Notify)?;
        if let Some(fd) = fresh {
            self.reactor
                .add(fd, Token::Notify)
                .map_err(SupervisorError::Notify)?;
        }
        Ok(var)
    }

    /// The one place every task fact passes: the timeline records it (and
    /// any other consumer of task facts belongs here too).
    fn record(&mut self, id: TaskId, fact: Fact) {
        self.timeline.record(id, Instant::now(), fact);
    }

    fn on_notify(&mut self) {
        for change in self.notify.receive() {
            match change {
                Change::Ready(id) => {
                    self.record(id, Fact::Ready);
                    self.log_event(id, &LogEvent::Ready);
                    self.events.push_back(Event::Ready(id));
                }
                Change::Trigger(id) => {
                    self.notify.disarm(id);
                    self.watchdog_missed(id, "asked for it (WATCHDOG=trigger)".into());
                }
            }
        }
    }

    fn on_timer(&mut self) {
        let stopping = self.shutdown.check().is_some();
        for due in self.timers.expire() {
            match due {
                // Once ned stops, script timers fire no more: their
                // callbacks would meet a loop that starts nothing.
                Due::Script(id) if stopping => {
                    self.timers.cancel(id);
                }
                Due::Script(id) => self.events.push_back(Event::Timer(id)),
                Due::Watchdog(id) => match self.notify.check(id, Instant::now()) {
                    Watch::Off => {}
                    Watch::Again(at) => {
                        if let Err(e) = self.timers.watchdog(id, at) {
                            crate::diag!("ned: failed to arm a watchdog: {e}");
                        }
                    }
                    Watch::Missed(by) => {
                        self.watchdog_missed(id, format!("missed it by {} ms", by.as_millis()))
                    }
                },
            }
        }
    }

    /// Kills a task whose watchdog failed, and its tree; its exit is reported as usual
    /// (signal 9), so an exit handler or a restart policy takes it from
    /// there.
    fn watchdog_missed(&mut self, id: TaskId, why: String) {
        let pid = self.pid(id).unwrap_or(0);
        crate::diag!("ned: task {pid} failed its watchdog ({why}): killing it");
        self.record(id, Fact::WatchdogMissed);
        // The whole tree: a wedged service's helpers go with it.
        let _ = self.kill_tree(id, libc::SIGKILL);
    }

    /// A script timer firing after `after`, then every `period` if given.
    pub fn add_timer(
        &mut self,
        after: Duration,
        period: Option<Duration>,
    ) -> Result<TimerId, SupervisorError> {
        self.timers
            .add(after, period)
            .map_err(SupervisorError::Timer)
    }

    /// Cancels a script timer; false if it already fired (one-shot) or was
    /// cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.events.retain(|e| *e != Event::Timer(id));
        self.timers.cancel(id)
    }

    /// One-shot script timers still to run (a restart waiting out its
    /// backoff, say): `--wait-and-exit` waits for them as for tasks.
    pub fn one_shot_timers(&self) -> usize {
        self.timers.one_shots()
    }

    /// Whether a task started with `notify` sent `READY=1`; `None` for a
    /// task that does not notify (or ended).
    pub fn ready(&self, id: TaskId) -> Option<bool> {
        self.notify.entry(id).map(|e| e.ready)
    }

    /// The task's last `STATUS=` text.
    pub fn status(&self, id: TaskId) -> Option<String> {
        self.notify.entry(id).and_then(|e| e.status.clone())
    }

    /// Whether the task sent `STOPPING=1`.
    pub fn stopping(&self, id: TaskId) -> bool {
        self.notify.entry(id).is_some_and(|e| e.stopping)
    }

    /// Notify datagrams ignored: from processes that are no notifying task.
    pub fn notify_strangers(&self) -> u64 {
        self.notify.strangers()
    }

    /// The boot timeline as an SVG document, drawn up to now.
    pub fn timeline_svg(&self) -> String {
        self.timeline.svg(Instant::now())
    }
}

/// The name a task has on the timeline: its log tag, else its program's
/// file name.
fn task_name(spec: &StartSpec) -> String {
    match &spec.log {
        LogTarget::Tagged(tag, _) => tag.clone(),
        LogTarget::Stream(s) => s.tag.clone(),
        LogTarget::Console => {
            let p = std::path::Path::new(std::ffi::OsStr::from_bytes(spec.path.as_bytes()));
            p.file_name()
                .unwrap_or(p.as_os_str())
                .to_string_lossy()
                .into_owned()
        }
    }
}

/// The token of pipe `which` of stream `sid`.
pub(crate) fn log_token(sid: StreamId, which: Which) -> Token {
    match which {
        Which::Out => Token::Log(sid),
        Which::Err => Token::LogErr(sid),
    }
}

/// How long ned waits for tasks after SIGKILL before it gives up on them.
const KILL_BOUND: Duration = Duration::from_secs(5);

/// Three fds per task (pidfd, two log pipes): raise the soft limit to the hard one,
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
        let mut sup = Supervisor::new(LogMux::new(console(&sink), false).unwrap()).unwrap();
        let (stream, write) = sup
            .open_log(&LogTarget::Tagged("t".into(), Color::WHITE))
            .unwrap();
        let sid = stream.unwrap();
        let [write, _] = write.unwrap();
        sup.reactor
            .add(sup.log.fd(sid, Which::Out).unwrap(), Token::Log(sid))
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
            new_group: false,
            isolation: None,
            cgroup_procs: &[],
            rlimits: &[],
        };
        let child = sup.spawner.spawn(&cmd).unwrap();
        drop(write);
        let pid = child.pid;
        let facts = Facts {
            caps: Vec::new(),
            started: Instant::now(),
            ended: None,
            log: None,
            kept: None,
            ns_init: false,
        };
        let err = sup
            .watch(child, stream, true, "t".into(), facts)
            .unwrap_err();
        assert!(matches!(err, SupervisorError::Watch { .. }), "{err}");
        // Reaped: the pid names no process (not even a zombie) any more.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "task {pid} left behind"
        );
        assert_eq!(sup.live(), 0);
        assert!(sup.tasks.is_empty());
    }

    /// `tasks()` shows what a task was started as — tag, caps with their
    /// rights — and when it started and ended, until the script lets go.
    #[test]
    fn tasks_show_name_caps_and_times() {
        let sink = Sink::default();
        let mut sup = Supervisor::new(LogMux::new(console(&sink), false).unwrap()).unwrap();
        let path = CString::new("/bin/sleep").unwrap();
        let spec = StartSpec {
            argv: vec![path.clone(), CString::new("100").unwrap()],
            path,
            env: Vec::new(),
            caps: vec![(
                "chan".into(),
                Cap::new(crate::cap::Object::channel().unwrap(), Rights::READ),
            )],
            log: LogTarget::Tagged("sl".into(), Color::WHITE),
            cpus: None,
            nice: None,
            notify: false,
            watchdog: None,
            sandbox: None,
            limits: Limits::default(),
        };
        let (id, pid) = sup.start(spec).unwrap();
        let console_spec = StartSpec {
            path: CString::new("/bin/true").unwrap(),
            argv: vec![CString::new("true").unwrap()],
            env: Vec::new(),
            caps: Vec::new(),
            log: LogTarget::Console,
            cpus: None,
            nice: None,
            notify: false,
            watchdog: None,
            sandbox: None,
            limits: Limits::default(),
        };
        let (id2, _) = sup.start(console_spec).unwrap();
        let all = sup.tasks();
        assert_eq!(all.len(), 2);
        let t = all[0];
        assert_eq!((t.id, t.pid, t.name), (id, pid, "sl"));
        assert_eq!(t.state, State::Running { held: true });
        assert_eq!(
            t.caps,
            [CapFact {
                name: "chan".into(),
                kind: Kind::Channel,
                rights: Rights::READ
            }]
        );
        assert!(t.ended.is_none());
        assert_eq!((all[1].id, all[1].name, all[1].lines), (id2, "true", 0));
        sup.signal(id, libc::SIGKILL).unwrap();
        let gone = |s: &Supervisor| s.live() == 0;
        let until = sup.run_until(Some(Instant::now() + Duration::from_secs(10)), false, gone);
        assert_eq!(until, Until::Done);
        let t = sup.tasks()[0];
        assert_eq!(t.state, State::Zombie(Ended::Signal(libc::SIGKILL)));
        assert!(t.ended.is_some_and(|e| e >= t.started));
        sup.release(id);
        sup.release(id2);
        assert!(sup.tasks().is_empty());
    }

    /// An ended task keeps its log's count and recent lines, even when a
    /// later task reuses its stream's slot.
    #[test]
    fn an_ended_task_keeps_its_log_tail() {
        let sink = Sink::default();
        let mut sup = Supervisor::new(LogMux::new(console(&sink), false).unwrap()).unwrap();
        let spec = |tag: &str, script: &str| StartSpec {
            path: CString::new("/bin/sh").unwrap(),
            argv: ["sh", "-c", script]
                .map(|a| CString::new(a).unwrap())
                .to_vec(),
            env: Vec::new(),
            caps: Vec::new(),
            log: LogTarget::Tagged(tag.into(), Color::WHITE),
            cpus: None,
            nice: None,
            notify: false,
            watchdog: None,
            sandbox: None,
            limits: Limits::default(),
        };
        let gone = |s: &Supervisor| s.live() == 0;
        let deadline = || Some(Instant::now() + Duration::from_secs(10));
        let (a, _) = sup
            .start(spec("a", "echo one; echo two; echo three"))
            .unwrap();
        assert_eq!(sup.run_until(deadline(), false, gone), Until::Done);
        let (b, _) = sup.start(spec("b", "echo four")).unwrap();
        assert_eq!(sup.run_until(deadline(), false, gone), Until::Done);
        let all = sup.tasks();
        assert_eq!((all[0].id, all[0].lines), (a, 3));
        assert_eq!((all[1].id, all[1].lines), (b, 1));
        assert_eq!(sup.log_tail(a, 2), [b"two".to_vec(), b"three".to_vec()]);
        assert_eq!(sup.log_tail(a, 99).len(), 3);
        assert_eq!(sup.log_tail(b, 5), [b"four".to_vec()]);
        assert_eq!(sup.log_tail(TaskId(99), 5), Vec::<Vec<u8>>::new());
    }
}
