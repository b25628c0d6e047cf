//! ned's own output: one writer per destination — stdout for task logs and
//! the script's `print`, stderr for ned's diagnostics — so that a console
//! that reads slowly, or not at all, never blocks ned's loop.
//!
//! A [`Console`] is a bounded queue of whole lines and a thread that writes
//! them with ordinary blocking writes: no `O_NONBLOCK` on a file description
//! ned shares with other processes (a terminal, a journal pipe). Two limits
//! decide what happens when the queue fills:
//!
//! * Lines read from a task's log pipe are queued only while the queue holds
//!   less than [`QUEUE_SOFT`]; above it the multiplexer stops reading pipes
//!   ([`Console::has_room`]) and each task waits on its own full pipe, so no
//!   line of it is lost while the console is only slow. The console makes
//!   [`Console::space_fd`] readable once it has drained to half of that.
//! * Lines ned itself must emit — diagnostics, `print`, what a task left in
//!   its pipe when it ended — cannot wait: beyond [`QUEUE_LIMIT`] they are
//!   dropped and counted, and the count is reported on the same destination,
//!   where the lines went missing, as soon as there is room again
//!   (`ned: 1234 lines dropped: console too slow`).
//!
//! Lines are queued whole and written in chunks cut at line ends, so other
//! writers of the same file description (tasks started with
//! `log = L4.Env.log`) cannot land inside one of ned's lines because of how
//! ned splits its writes. At exit [`finish`] gives the writers
//! [`EXIT_FLUSH`]; what is left then is counted and reported on stderr, if
//! stderr takes it. A failing write drops what it held, so a closed console
//! (or a full disk under a log file) cannot stall ned either: the lines are
//! counted and the loss reported on stderr (`ned: NAME: 12 lines dropped:
//! ERROR`) when writes work again, when the writer goes idle (at most once a
//! second) and when it is closed.
//!
//! In JSON mode ([`set_json`]) ned's own lines — diagnostics and drop
//! reports — are JSON objects too (`{"time":..,"tag":"ned","stream":"ned",
//! "line":..}`).

use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{EventfdFlags, PollFd, PollFlags, eventfd};

/// Task lines are read from their pipes only while a queue holds less.
pub const QUEUE_SOFT: usize = 256 * 1024;
/// ned's own lines that do not fit below this are dropped and counted.
pub const QUEUE_LIMIT: usize = 1024 * 1024;
/// The largest single write; chunks end at a line end where one exists.
const WRITE_CHUNK: usize = 64 * 1024;
/// How long ned waits at exit for its consoles to take what is queued.
pub const EXIT_FLUSH: Duration = Duration::from_secs(1);
/// stderr's own time at exit once stdout used up [`EXIT_FLUSH`], so that
/// the report of what stdout lost can still get out.
const EXIT_REPORT: Duration = Duration::from_millis(200);

/// One output destination: a bounded queue and its writer thread.
#[derive(Clone)]
pub struct Console(Arc<Shared>);

struct Shared {
    state: Mutex<State>,
    /// The writer thread waits here for lines.
    work: Condvar,
    /// Notified whenever the writer has nothing left to write.
    idle: Condvar,
    /// Readable once the queue drained after [`Console::has_room`] said no;
    /// several consoles may share one.
    space: Arc<OwnedFd>,
    /// The writer thread's sink until the first line starts the thread: a
    /// ned that never prints (`ned --exit` on a quiet script) never pays
    /// for a thread.
    unstarted: Mutex<Option<Writer>>,
}

/// What a writer thread is started with.
struct Writer {
    sink: Box<dyn Write + Send>,
    name: String,
    report_errors: bool,
}

#[derive(Default)]
struct State {
    queue: Vec<u8>,
    /// An empty buffer to swap in for the queue, so allocations are reused.
    spare: Vec<u8>,
    /// What the writer thread took from the queue, and how much of it is out.
    inflight: Option<Arc<Vec<u8>>>,
    written: usize,
    /// Lines dropped since the last report.
    dropped: u64,
    want_space: bool,
    sleeping: bool,
    /// [`Console::close`] was called: the writer ends once the queue is out.
    closed: bool,
}

impl State {
    fn used(&self) -> usize {
        self.queue.len() + self.inflight.as_ref().map_or(0, |b| b.len() - self.written)
    }

    /// Queues the report of the lines dropped since the last one.
    fn report_drops(&mut self) {
        if self.dropped > 0 {
            let line = own_line(format_args!(
                "ned: {} lines dropped: console too slow",
                self.dropped
            ));
            self.queue.extend_from_slice(line.as_bytes());
            self.dropped = 0;
        }
    }

    /// Lines queued, in flight or dropped without a report yet.
    fn unwritten(&self) -> u64 {
        let in_flight = self
            .inflight
            .as_ref()
            .map_or(0, |b| lines(&b[self.written..]));
        lines(&self.queue) + in_flight + self.dropped
    }
}

/// How many lines `b` holds, an unterminated last one included.
fn lines(b: &[u8]) -> u64 {
    let ends = b.iter().filter(|&&c| c == b'\n').count() as u64;
    ends + u64::from(b.last().is_some_and(|&c| c != b'\n'))
}

impl Console {
    /// Starts a writer thread (`name`) that writes to `sink`; with
    /// `report_errors`, a failing write is reported once on ned's stderr
    /// (until a write succeeds again).
    pub fn spawn(
        sink: Box<dyn Write + Send>,
        name: &str,
        report_errors: bool,
    ) -> io::Result<Console> {
        let space = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Console::spawn_with_space(
            sink,
            name,
            report_errors,
            Arc::new(space),
        ))
    }

    /// [`Console::spawn`] with a space fd shared with other consoles.
    pub fn spawn_with_space(
        sink: Box<dyn Write + Send>,
        name: &str,
        report_errors: bool,
        space: Arc<OwnedFd>,
    ) -> Console {
        Console(Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            idle: Condvar::new(),
            space,
            unstarted: Mutex::new(Some(Writer {
                sink,
                name: name.to_owned(),
                report_errors,
            })),
        }))
    }

    /// Closed, and everything written (or dropped and counted).
    pub fn is_done(&self) -> bool {
        let st = self.lock();
        st.closed && st.used() == 0 && st.dropped == 0
    }

    /// Lets the writer end once it wrote what is queued (reporting any
    /// loss); nothing may be queued after this.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        self.wake(st);
    }

    /// Starts the writer thread if it is not running yet. Should the thread
    /// not start, what was queued is dropped and said so on fd 2.
    fn start(&self) {
        let Some(w) = self
            .0
            .unstarted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let theirs = Arc::clone(&self.0);
        let Writer {
            sink,
            name,
            report_errors,
        } = w;
        let label = name.clone();
        if let Err(e) = ned_spawn::spawn_thread_without_signals(&name, move || {
            write_loop(&theirs, sink, &label, report_errors)
        }) {
            let lost = {
                let mut st = self.lock();
                let n = st.unwritten();
                st.queue.clear();
                st.dropped = 0;
                n
            };
            let msg = own_line(format_args!(
                "ned: failed to start the {name} writer ({e}); {lost} lines lost"
            ));
            let _ = rustix::io::write(rustix::stdio::stderr(), msg.as_bytes());
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock()
    }

    /// Queues whole lines that ned itself emits. Lines that do not fit
    /// below [`QUEUE_LIMIT`] are dropped and counted — except that an empty
    /// queue always takes one line, however long, so every line can get out
    /// on a console that keeps up.
    pub fn write_lines(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.lock();
        let used = st.used();
        let room = QUEUE_LIMIT.saturating_sub(used);
        let mut keep = if data.len() <= room {
            data.len()
        } else {
            data[..room]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
        };
        if keep == 0 && used == 0 {
            keep = data
                .iter()
                .position(|&b| b == b'\n')
                .map_or(data.len(), |p| p + 1);
        }
        if keep > 0 {
            st.report_drops();
            st.queue.extend_from_slice(&data[..keep]);
        }
        st.dropped += lines(&data[keep..]);
        self.wake(st);
    }

    /// Queues the lines just read from tasks (the caller asked
    /// [`Console::has_room`] before reading): never dropped. Leaves `data`
    /// empty, possibly holding another allocation.
    pub fn write_read(&self, data: &mut Vec<u8>) {
        if data.is_empty() {
            return;
        }
        let mut st = self.lock();
        st.report_drops();
        if st.queue.is_empty() {
            std::mem::swap(&mut st.queue, data);
        } else {
            st.queue.extend_from_slice(data);
        }
        data.clear();
        self.wake(st);
    }

    fn wake(&self, st: MutexGuard<'_, State>) {
        let sleeping = st.sleeping;
        drop(st);
        if sleeping {
            self.0.work.notify_one();
        }
        self.start();
    }

    /// Whether lines may be read from tasks now. When not, the console
    /// makes [`Console::space_fd`] readable once it has room again.
    pub fn has_room(&self) -> bool {
        let mut st = self.lock();
        if st.used() < QUEUE_SOFT {
            return true;
        }
        st.want_space = true;
        false
    }

    /// Readable when the console has room again after [`Console::has_room`]
    /// said no; [`Console::clear_space`] resets it.
    pub fn space_fd(&self) -> BorrowedFd<'_> {
        self.0.space.as_fd()
    }

    pub fn clear_space(&self) {
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&self.0.space, &mut b);
    }

    /// Waits until everything queued is written, or until `deadline`. Then
    /// forgets what is still queued and returns how many lines were not
    /// written (queued, in flight, or dropped without a report yet).
    pub fn flush(&self, deadline: Instant) -> u64 {
        let mut st = self.lock();
        loop {
            if st.used() == 0 && st.dropped == 0 {
                return 0;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self
                .0
                .idle
                .wait_timeout(st, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let lost = st.unwritten();
        st.queue.clear();
        st.dropped = 0;
        lost
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The writer thread: takes the whole queue, writes it in chunks and tells
/// the loop when there is room again.
fn write_loop(shared: &Shared, mut sink: Box<dyn Write + Send>, name: &str, report_errors: bool) {
    let mut loss = Loss::default();
    let mut st = shared.lock();
    loop {
        if st.queue.is_empty() {
            st.report_drops();
        }
        if st.queue.is_empty() {
            if report_errors {
                loss.report(name, st.closed);
            }
            if st.closed {
                shared.idle.notify_all();
                return;
            }
            shared.idle.notify_all();
            st.sleeping = true;
            st = shared.work.wait(st).unwrap_or_else(PoisonError::into_inner);
            st.sleeping = false;
            continue;
        }
        let spare = std::mem::take(&mut st.spare);
        let data = Arc::new(std::mem::replace(&mut st.queue, spare));
        st.inflight = Some(Arc::clone(&data));
        st.written = 0;
        drop(st);
        let mut done = 0;
        st = loop {
            let end = chunk_end(&data, done);
            match sink.write_all(&data[done..end]).and_then(|()| sink.flush()) {
                Ok(()) => {
                    if report_errors {
                        loss.report(name, true);
                    }
                    loss.error = None;
                }
                Err(e) => {
                    if report_errors && loss.error.is_none() {
                        crate::diag!("ned: {name}: failed to write ({e}); lines are dropped");
                    }
                    loss.lines += lines(&data[done..end]);
                    loss.error = Some(e.to_string());
                }
            }
            done = end;
            let mut g = shared.lock();
            g.written = done;
            if g.want_space && g.used() <= QUEUE_SOFT / 2 {
                g.want_space = false;
                let _ = rustix::io::write(&shared.space, &1u64.to_ne_bytes());
            }
            if done == data.len() {
                g.inflight = None;
                break g;
            }
        };
        if let Ok(mut v) = Arc::try_unwrap(data) {
            v.clear();
            if v.capacity() <= 2 * QUEUE_LIMIT {
                st.spare = v;
            }
        }
    }
}

/// Lines a writer could not write, not reported yet.
#[derive(Default)]
struct Loss {
    lines: u64,
    error: Option<String>,
    last: Option<Instant>,
}

impl Loss {
    /// Reports the count on stderr: `now`, or if a second passed since the
    /// last report.
    fn report(&mut self, name: &str, now: bool) {
        if self.lines == 0 || !(now || self.last.is_none_or(|t| t.elapsed() >= LOSS_REPORT)) {
            return;
        }
        let why = self.error.as_deref().unwrap_or("write failed");
        crate::diag!("ned: {name}: {} lines dropped: {why}", self.lines);
        self.lines = 0;
        self.last = Some(Instant::now());
    }
}

/// How often a writer that keeps failing reports its loss.
const LOSS_REPORT: Duration = Duration::from_secs(1);

/// Where the chunk of `data` that starts at `from` ends: after the last line
/// end within [`WRITE_CHUNK`], or after the first one beyond it.
fn chunk_end(data: &[u8], from: usize) -> usize {
    let limit = (from + WRITE_CHUNK).min(data.len());
    if limit == data.len() {
        return limit;
    }
    match data[from..limit].iter().rposition(|&b| b == b'\n') {
        Some(p) => from + p + 1,
        None => data[limit..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| limit + p + 1),
    }
}

/// One of ned's own descriptors (stdout, stderr) as a blocking sink. A file
/// description someone else made non-blocking is waited on, not failed.
struct FdSink(BorrowedFd<'static>);

impl Write for FdSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match rustix::io::write(self.0, buf) {
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    let mut fds = [PollFd::new(&self.0, PollFlags::OUT)];
                    let _ = rustix::event::poll(&mut fds, None);
                }
                done => return done.map_err(Into::into),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

static STDOUT: OnceLock<Option<Console>> = OnceLock::new();
static STDERR: OnceLock<Option<Console>> = OnceLock::new();

/// ned's stdout: task logs and the script's `print`. `None` only when its
/// thread could not be started.
pub fn stdout() -> Option<&'static Console> {
    STDOUT
        .get_or_init(|| {
            Console::spawn(
                Box::new(FdSink(rustix::stdio::stdout())),
                "ned-stdout",
                true,
            )
            .ok()
        })
        .as_ref()
}

/// ned's stderr: its diagnostics. `None` only when its thread could not be
/// started.
pub fn stderr() -> Option<&'static Console> {
    STDERR
        .get_or_init(|| {
            Console::spawn(
                Box::new(FdSink(rustix::stdio::stderr())),
                "ned-stderr",
                false,
            )
            .ok()
        })
        .as_ref()
}

static JSON: AtomicBool = AtomicBool::new(false);

/// From now on ned's own lines are JSON objects (`--log-format json`).
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Whether ned's own lines are JSON objects.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// One of ned's own lines, with its line end: the text, or in JSON mode a
/// record `{"time":..,"tag":"ned","stream":"ned","line":..}`.
pub fn own_line(args: fmt::Arguments<'_>) -> String {
    if !json() {
        return format!("{args}\n");
    }
    let text = args.to_string();
    let mut v = Vec::with_capacity(text.len() + 80);
    v.extend_from_slice(b"{\"time\":\"");
    crate::logfmt::Time::Utc.now(&mut v);
    v.extend_from_slice(b"\",\"tag\":\"ned\",\"stream\":\"ned\",");
    crate::logfmt::json_line(text.as_bytes(), &mut v);
    v.extend_from_slice(b"}\n");
    String::from_utf8(v).unwrap_or_default()
}

/// Prints one diagnostic line on ned's stderr, through its console. Unlike
/// `eprintln!`, which panics when stderr is a broken pipe and blocks when
/// nobody reads it, this never fails and never waits: ned may be PID 1 and
/// must not die, or freeze, because nobody reads its complaints.
pub fn diag(args: fmt::Arguments<'_>) {
    let line = own_line(args);
    match stderr() {
        Some(c) => c.write_lines(line.as_bytes()),
        // No writer thread: the last resort is a direct write.
        None => {
            let _ = io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// `eprintln!` that never panics nor blocks; see [`diag`].
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::console::diag(format_args!($($arg)*))
    };
}

/// At ned's exit: gives stdout and stderr [`EXIT_FLUSH`] to write what is
/// queued, then reports on stderr how many lines stdout could not write.
/// Bounded, so a console nobody reads cannot keep ned from exiting.
pub fn finish() {
    let deadline = Instant::now() + EXIT_FLUSH;
    if let Some(out) = STDOUT.get().and_then(Option::as_ref) {
        // Closed, so that a loss of its failing writes is reported now.
        out.close();
        let lost = out.flush(deadline);
        if lost > 0 {
            diag(format_args!(
                "ned: {lost} lines dropped at exit: console too slow"
            ));
        }
    }
    if let Some(err) = STDERR.get().and_then(Option::as_ref) {
        err.flush(deadline.max(Instant::now() + EXIT_REPORT));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A sink that collects what is written and, while `gate` is shut,
    /// blocks every write: a console nobody reads.
    #[derive(Clone, Default)]
    pub(crate) struct Sink {
        pub(crate) out: Arc<Mutex<Vec<u8>>>,
        gate: Arc<(Mutex<bool>, Condvar)>,
    }

    impl Sink {
        pub(crate) fn stalled() -> Sink {
            let s = Sink::default();
            *s.gate.0.lock().unwrap() = true;
            s
        }

        pub(crate) fn open(&self) {
            *self.gate.0.lock().unwrap() = false;
            self.gate.1.notify_all();
        }

        pub(crate) fn text(&self) -> String {
            String::from_utf8(self.out.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let (shut, cv) = &*self.gate;
            let mut g = shut.lock().unwrap();
            while *g {
                g = cv.wait(g).unwrap();
            }
            self.out.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub(crate) fn console(sink: &Sink) -> Console {
        Console::spawn(Box::new(sink.clone()), "test-console", false).unwrap()
    }

    pub(crate) fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    pub(crate) fn readable(fd: BorrowedFd<'_>, within: Duration) -> bool {
        let ts = rustix::event::Timespec {
            tv_sec: within.as_secs() as i64,
            tv_nsec: within.subsec_nanos() as i64,
        };
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        matches!(rustix::event::poll(&mut fds, Some(&ts)), Ok(n) if n > 0)
    }

    #[test]
    fn own_lines_beyond_the_limit_are_dropped_counted_and_reported_in_place() {
        let sink = Sink::stalled();
        let c = console(&sink);
        let line = |i: usize| format!("{i:0>99}\n");
        let total = 3 * QUEUE_LIMIT / 100;
        for i in 0..total {
            c.write_lines(line(i).as_bytes());
        }
        sink.open();
        c.write_lines(b"after\n");
        assert_eq!(c.flush(soon()), 0);
        let text = sink.text();
        let got: Vec<&str> = text.lines().collect();
        let kept = got.iter().take_while(|l| l.len() == 99).count();
        assert!(kept > 0 && kept < total, "kept {kept} of {total}");
        for (i, l) in got[..kept].iter().enumerate() {
            assert_eq!(format!("{l}\n"), line(i), "in order and whole");
        }
        let report = format!("ned: {} lines dropped: console too slow", total - kept);
        assert_eq!(
            got[kept..],
            [report.as_str(), "after"],
            "{:?}",
            &got[kept..]
        );
    }

    #[test]
    fn a_report_follows_even_without_later_output() {
        let sink = Sink::stalled();
        let c = console(&sink);
        let big = vec![b'x'; QUEUE_LIMIT - 1];
        c.write_lines(&[&big[..], b"\n"].concat());
        c.write_lines(b"lost 1\nlost 2\n");
        sink.open();
        assert_eq!(c.flush(soon()), 0);
        assert!(
            sink.text()
                .ends_with("\nned: 2 lines dropped: console too slow\n"),
            "{:?}",
            &sink.text()[QUEUE_LIMIT - 10..]
        );
    }

    #[test]
    fn one_overlong_line_goes_out_on_an_idle_console() {
        let sink = Sink::default();
        let c = console(&sink);
        let huge = [&vec![b'y'; 2 * QUEUE_LIMIT][..], b"\n"].concat();
        c.write_lines(&huge);
        assert_eq!(c.flush(soon()), 0);
        assert_eq!(sink.out.lock().unwrap().len(), huge.len());
    }

    #[test]
    fn task_lines_wait_for_room_and_space_is_signalled() {
        let sink = Sink::stalled();
        let c = console(&sink);
        let mut n = 0;
        while c.has_room() {
            let mut chunk = format!("{n}\n").repeat(1000).into_bytes();
            c.write_read(&mut chunk);
            n += 1;
            assert!(n < 10_000, "the console never filled");
        }
        assert!(!readable(c.space_fd(), Duration::from_millis(50)));
        sink.open();
        assert!(readable(c.space_fd(), Duration::from_secs(10)));
        c.clear_space();
        assert!(c.has_room());
        assert_eq!(c.flush(soon()), 0);
        assert_eq!(sink.text().lines().count(), n * 1000, "nothing dropped");
    }

    #[test]
    fn flush_is_bounded_on_a_stalled_console_and_counts_what_is_left() {
        let sink = Sink::stalled();
        let c = console(&sink);
        c.write_lines(b"a\nb\nc\n");
        let start = Instant::now();
        assert_eq!(c.flush(Instant::now() + Duration::from_millis(100)), 3);
        assert!(start.elapsed() < Duration::from_secs(5));
        sink.open();
    }

    #[test]
    fn a_failing_sink_does_not_stall_the_queue() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let c = Console::spawn(Box::new(Broken), "test-broken", false).unwrap();
        for _ in 0..1000 {
            c.write_lines(&[b'z'; 4095]);
        }
        assert_eq!(c.flush(soon()), 0, "failed writes are done with");
    }

    #[test]
    fn chunks_end_at_line_ends() {
        let data: Vec<u8> = (0..WRITE_CHUNK / 10 * 3)
            .flat_map(|i| format!("{:09}\n", i % 1_000_000_000).into_bytes())
            .chain(vec![b'L'; WRITE_CHUNK * 2])
            .chain(*b"\n")
            .collect();
        let mut at = 0;
        let mut ends = Vec::new();
        while at < data.len() {
            at = chunk_end(&data, at);
            ends.push(at);
            assert_eq!(data[at - 1], b'\n');
        }
        assert!(ends.len() >= 3, "{ends:?}");
        assert!(
            ends.windows(2)
                .all(|w| w[1] - w[0] <= WRITE_CHUNK || w[1] == data.len())
        );
    }
}
