//! The log multiplexer: every task's stdout and stderr arrive on two pipes
//! per task (one per stream, so ned knows which stream a line came from and
//! never reorders the lines of one stream); ned prints each complete line,
//! by default as upstream does: `<tag> | <line>`.
//!
//! Lines are assembled per stream, so output of different tasks never mixes
//! inside a line. All lines that one read produced are queued at once on
//! ned's stdout [`Console`], which keeps throughput high when many tasks log
//! at once. A line longer than [`MAX_LINE`] is printed in pieces of
//! [`MAX_LINE`] bytes ([`Lines`]), so a task without newlines cannot make
//! ned grow without bound; where the reads of a pipe end does not change
//! the lines. Bytes are passed through
//! untouched, UTF-8 or not — except on a terminal, where control characters
//! and escape sequences other than colour are shown escaped
//! ([`LogOptions::escape`], see [`crate::logfmt`]).
//!
//! What a line looks like ([`LogOptions`], docs/logs.md): with a time
//! ([`Time`]) it starts with the time its read returned and a space; with
//! [`LogOptions::mark_stderr`] a stderr line has ` ! ` where a stdout line
//! has ` | `; in [`Format::Json`] every line is one JSON object. ned's own
//! events ([`LogEvent`]: a task started, ended, ...) are lines with ` * `,
//! printed only when asked for in text mode, always in JSON.
//!
//! A task may also log to a file with rotation ([`StreamSpec::file`], see
//! [`crate::logfile`]), written by a console of its own, with or without a
//! copy on ned's console.
//!
//! A pipe is read only while every sink of its task has room
//! ([`LogMux::pump`] answers [`Pumped::Throttled`] otherwise): the task then
//! waits on its own full pipe and loses nothing, and ned's loop goes on.
//! What a task left in its pipe when it ended ([`LogMux::drain`]) is read at
//! once, whatever the room, and counted as dropped where a sink cannot take
//! it. A sink whose writes fail (a closed console, a full disk) drops its
//! lines, counted and reported by its console; it never blocks ned.
//!
//! Each stream also keeps its most recent lines ([`LogMux::recent`], at most
//! [`RECENT_LINES`] lines and [`RECENT_BYTES`] bytes, stdout and stderr
//! together) and counts every line it printed ([`LogMux::lines`]), for views
//! that show a task's log. Both stay readable after the stream closed, until
//! its id is reused by a new stream.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use rustix::event::{EventfdFlags, eventfd};

use crate::console::{Console, EXIT_FLUSH};
use crate::logfile::{FileSpec, RotatingFile};
use crate::logfmt::{self, Time};
use crate::loghook::{Filtered, Hooks};

/// Longest line printed whole; a longer one is printed in pieces.
pub const MAX_LINE: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;
/// Reads per [`LogMux::pump`] call: bounded, so one busy task cannot
/// starve the others.
const PUMP_ROUNDS: usize = 16;

/// Lines [`LogMux::recent`] keeps per stream, at most.
pub const RECENT_LINES: usize = 256;
/// Bytes of recent lines kept per stream, at most (a longer line is kept
/// cut to this).
pub const RECENT_BYTES: usize = 32 * 1024;

/// The most recent lines of one stream and how many it printed: a window of
/// bytes (each line ends in `\n`) that is trimmed from the front once it
/// holds twice [`RECENT_BYTES`], so appending is amortised O(1) per byte.
#[derive(Default)]
struct Recent {
    window: Vec<u8>,
    /// Line ends in `window`, oldest first; at most `2 * RECENT_LINES`.
    ends: std::collections::VecDeque<usize>,
    count: u64,
}

impl Recent {
    fn push(&mut self, line: &[u8]) {
        self.count += 1;
        let line = &line[..line.len().min(RECENT_BYTES)];
        if self.window.len() + line.len() + 1 > 2 * RECENT_BYTES
            || self.ends.len() >= 2 * RECENT_LINES
        {
            self.trim();
        }
        self.window.extend_from_slice(line);
        self.window.push(b'\n');
        self.ends.push_back(self.window.len());
    }

    /// [`Recent::push`] for each of the `lines` lines of `block` (complete
    /// lines, each ending in `\n`), but only the last ones are kept: those
    /// that together hold [`RECENT_LINES`] lines or more than
    /// [`RECENT_BYTES`] bytes, everything a trim could keep; the earlier
    /// ones are counted, and what was kept before goes when it is older
    /// than a skipped line. When they fit in [`RECENT_BYTES`] (no line needs
    /// cutting) they are copied in one piece, their ends taken from the
    /// walk that found them, instead of line by line.
    fn push_block(&mut self, block: &[u8], lines: usize) {
        let Some((_, body)) = block.split_last() else {
            return;
        };
        // Walk back over the line starts; the line at `nl + 1` is the
        // `kept`-th from the end, and `ends[..kept - 1]` the ends of the
        // lines before the last, newest first.
        let mut ends = [0; RECENT_LINES];
        let mut from = 0;
        let mut kept = 1;
        for nl in memchr::memrchr_iter(b'\n', body) {
            if kept >= RECENT_LINES || block.len() - (nl + 1) > RECENT_BYTES {
                from = nl + 1;
                break;
            }
            ends[kept - 1] = nl + 1;
            kept += 1;
        }
        self.count += (lines - kept.min(lines)) as u64;
        if from > 0 {
            // The lines kept before are older than those skipped, so none
            // of them is among the last ones any more.
            self.window.clear();
            self.ends.clear();
        }
        let tail = &block[from..];
        if tail.len() > RECENT_BYTES {
            for_lines(tail, |line| self.push(&line[..line.len() - 1]));
            return;
        }
        // After a trim the window holds at most RECENT_BYTES and
        // RECENT_LINES, so the tail then fits within the bounds of `push`.
        if self.window.len() + tail.len() > 2 * RECENT_BYTES
            || self.ends.len() + kept > 2 * RECENT_LINES
        {
            self.trim();
        }
        let at = self.window.len();
        self.window.extend_from_slice(tail);
        for &end in ends[..kept - 1].iter().rev() {
            self.ends.push_back(at + end - from);
        }
        self.ends.push_back(self.window.len());
        self.count += kept as u64;
    }

    /// Keeps the last lines that fit in [`RECENT_BYTES`] and [`RECENT_LINES`].
    fn trim(&mut self) {
        let total = self.window.len();
        let mut first = self.ends.len().saturating_sub(RECENT_LINES);
        let start = |i: usize, ends: &std::collections::VecDeque<usize>| {
            if i == 0 { 0 } else { ends[i - 1] }
        };
        while first < self.ends.len() && total - start(first, &self.ends) > RECENT_BYTES {
            first += 1;
        }
        let cut = start(first, &self.ends);
        self.window.drain(..cut);
        self.ends.drain(..first);
        for e in &mut self.ends {
            *e -= cut;
        }
    }

    /// The last `n` lines (at most [`RECENT_LINES`]), oldest first, without
    /// their `\n`.
    fn last(&self, n: usize) -> Vec<Vec<u8>> {
        let n = n.min(RECENT_LINES).min(self.ends.len());
        let from = self.ends.len() - n;
        (from..self.ends.len())
            .map(|i| {
                let start = if i == 0 { 0 } else { self.ends[i - 1] };
                self.window[start..self.ends[i] - 1].to_vec()
            })
            .collect()
    }
}

/// A tag colour: upstream letters `nrgybmcw` (uppercase: bright) or 0-15.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Color(pub u8);

impl Color {
    pub const WHITE: Color = Color(7);

    /// Parses `"blue"`, `"B"`, `"12"`; the first letter decides for names.
    pub fn parse(s: &str) -> Option<Color> {
        if let Ok(n) = s.parse::<u8>() {
            return (n < 16).then_some(Color(n));
        }
        let first = *s.as_bytes().first()?;
        let base = match first.to_ascii_lowercase() {
            b'n' => 0,
            b'r' => 1,
            b'g' => 2,
            b'y' => 3,
            b'b' => 4,
            b'm' => 5,
            b'c' => 6,
            b'w' => 7,
            _ => return None,
        };
        Some(Color(if first.is_ascii_uppercase() {
            base + 8
        } else {
            base
        }))
    }

    fn sgr(self) -> String {
        if self.0 < 8 {
            format!("\x1b[{}m", 30 + self.0)
        } else {
            format!("\x1b[1;{}m", 90 + self.0 - 8)
        }
    }
}

/// How lines are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `<tag> | <line>`, as upstream.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How ned prints logs; the default is upstream's output.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogOptions {
    pub format: Format,
    /// The default for tasks that do not choose (`--log-time`).
    pub time: Time,
    /// ned's own events in text mode (`--log-events`).
    pub events: bool,
    /// stderr lines get ` ! ` instead of ` | ` (`--log-streams`).
    pub mark_stderr: bool,
    /// Show control characters escaped on the console (a terminal without
    /// `--log-raw`).
    pub escape: bool,
    /// Colour tags (a terminal without `NO_COLOR`).
    pub colors: bool,
}

/// One of a task's two output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Which {
    Out = 0,
    Err = 1,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Out => "stdout",
            Which::Err => "stderr",
        }
    }
}

/// Where and how one task's lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSpec {
    pub tag: String,
    pub color: Color,
    /// Also (or only) to this file, with rotation.
    pub file: Option<FileSpec>,
    /// Printed on ned's console (the default).
    pub console: bool,
    /// Its own choice of time stamps, else [`LogOptions::time`].
    pub time: Option<Time>,
}

impl StreamSpec {
    /// Tag and colour only: the console, as upstream.
    pub fn tagged(tag: &str, color: Color) -> StreamSpec {
        StreamSpec {
            tag: tag.to_owned(),
            color,
            file: None,
            console: true,
            time: None,
        }
    }
}

/// Something ned did with a task, as a log record ([`LogMux::event`]).
#[derive(Clone, Copy, Debug)]
pub enum LogEvent<'a> {
    Started {
        argv: &'a [CString],
    },
    Exited(u8),
    Killed(i32),
    /// Gone, but its exit status could not be collected.
    Lost,
    /// Started again by its supervision (`pid` is the new one).
    Restarted,
    /// Declared ready.
    Ready,
}

impl LogEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            LogEvent::Started { .. } => "started",
            LogEvent::Exited(_) => "exited",
            LogEvent::Killed(_) => "killed",
            LogEvent::Lost => "lost",
            LogEvent::Restarted => "restarted",
            LogEvent::Ready => "ready",
        }
    }

    /// The record's text: `started pid 12: /bin/echo hi`, `exited with code 0`.
    fn text(&self, pid: i32) -> String {
        match self {
            LogEvent::Started { argv } => {
                // One line whatever the arguments hold.
                let args: Vec<String> = argv
                    .iter()
                    .map(|a| {
                        a.to_string_lossy()
                            .chars()
                            .map(|c| {
                                if c.is_control() {
                                    format!("\\x{:02x}", u32::from(c))
                                } else {
                                    c.to_string()
                                }
                            })
                            .collect()
                    })
                    .collect();
                format!("started pid {pid}: {}", args.join(" "))
            }
            LogEvent::Exited(c) => format!("exited with code {c}"),
            LogEvent::Killed(s) => format!("killed by signal {s}"),
            LogEvent::Lost => "ended, its exit status lost".to_owned(),
            LogEvent::Restarted => format!("restarted as pid {pid}"),
            LogEvent::Ready => "ready".to_owned(),
        }
    }

    /// The record's JSON fields beyond the common ones, each with a leading
    /// comma.
    fn json_fields(&self, out: &mut Vec<u8>) {
        match self {
            LogEvent::Started { argv } => {
                out.extend_from_slice(b",\"argv\":[");
                for (i, a) in argv.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'"');
                    logfmt::json_str(&a.to_string_lossy(), out);
                    out.push(b'"');
                }
                out.push(b']');
            }
            LogEvent::Exited(c) => out.extend_from_slice(format!(",\"code\":{c}").as_bytes()),
            LogEvent::Killed(s) => out.extend_from_slice(format!(",\"signal\":{s}").as_bytes()),
            LogEvent::Lost | LogEvent::Restarted | LogEvent::Ready => {}
        }
    }
}

/// Cuts the bytes of one stream, read in any pieces, into lines: each
/// `\n` ends one (and is not part of it); a line longer than `max` bytes
/// comes in pieces of `max` bytes, the last one shorter or equal; what
/// follows the last `\n` is the last line, if not empty. The lines are
/// the same wherever the reads end, and only one unfinished line of at
/// most `max` bytes is ever held.
pub struct Lines {
    partial: Vec<u8>,
    max: usize,
}

impl Lines {
    /// Lines of at most `max` bytes (at least 1).
    pub fn new(max: usize) -> Lines {
        Lines {
            partial: Vec::new(),
            max: max.max(1),
        }
    }

    /// Passes each line `data` completes to `line`; keeps the rest.
    pub fn feed(&mut self, data: &[u8], mut line: impl FnMut(&[u8])) {
        self.feed_runs(data, |piece| match piece {
            Piece::Line(l) => line(l),
            Piece::Run(run) => for_lines(run, |l| line(&l[..l.len() - 1])),
        });
    }

    /// As [`Lines::feed`], but complete lines that need neither the
    /// unfinished line in front nor cutting come as one [`Piece::Run`] of
    /// `\n`-terminated lines, so the caller can copy them in one pass.
    pub fn feed_runs(&mut self, mut data: &[u8], mut out: impl FnMut(Piece<'_>)) {
        loop {
            if self.partial.is_empty() {
                // No line of a piece shorter than `max` can be too long: its
                // complete lines run to its last `\n` (one search, as a
                // pipe read is never longer than MAX_LINE).
                let mut end = 0;
                if data.len() <= self.max {
                    end = memchr::memrchr(b'\n', data).map_or(0, |nl| nl + 1);
                } else {
                    while let Some(nl) = memchr::memchr(b'\n', &data[end..]) {
                        if nl > self.max {
                            break;
                        }
                        end += nl + 1;
                    }
                }
                if end > 0 {
                    out(Piece::Run(&data[..end]));
                    data = &data[end..];
                }
            }
            if data.is_empty() {
                return;
            }
            // One line the slow way: it continues the unfinished one, is
            // too long, or is not finished yet.
            let nl = memchr::memchr(b'\n', data);
            let mut seg = &data[..nl.unwrap_or(data.len())];
            // A piece is cut only when more than `max` bytes of its line
            // are known, so a line of exactly `max` bytes stays whole.
            while self.partial.len() + seg.len() > self.max {
                let (head, tail) = seg.split_at(self.max - self.partial.len());
                self.emit(head, &mut out);
                seg = tail;
            }
            let Some(nl) = nl else {
                self.partial.extend_from_slice(seg);
                return;
            };
            self.emit(seg, &mut out);
            data = &data[nl + 1..];
        }
    }

    /// Passes the unfinished last line, if any, to `line`.
    pub fn finish(&mut self, mut line: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            line(&self.partial);
            self.partial.clear();
        }
    }

    /// The unfinished line with `tail` after it, as one line.
    fn emit(&mut self, tail: &[u8], out: &mut impl FnMut(Piece<'_>)) {
        if self.partial.is_empty() {
            out(Piece::Line(tail));
        } else {
            self.partial.extend_from_slice(tail);
            out(Piece::Line(&self.partial));
            self.partial.clear();
        }
    }

    /// Takes the unfinished line away.
    fn take_partial(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.partial)
    }
}

/// What [`Lines::feed_runs`] hands on.
pub enum Piece<'a> {
    /// One line, without its `\n`.
    Line(&'a [u8]),
    /// Complete lines, each with its `\n` and none longer than the maximum.
    Run(&'a [u8]),
}

/// One of a stream's pipes.
struct Pipe {
    read: OwnedFd,
    lines: Lines,
}

/// One task's log: its pipes and sinks.
struct Stream {
    pipes: [Option<Pipe>; 2],
    tag: String,
    color: Color,
    pid: i32,
    time: Time,
    console: bool,
    file: Option<Console>,
    /// Rendered for the file, not queued yet.
    file_pending: Vec<u8>,
    /// Its task's end was recorded ([`LogMux::release`]): the stream goes
    /// with its last pipe.
    released: bool,
}

/// Identifies a stream inside the multiplexer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamId(pub usize);

/// What [`LogMux::pump`] and [`LogMux::drain`] left a pipe in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pumped {
    /// Still open; watch it as before.
    Open,
    /// End of file: the pipe is closed and its fd gone.
    Closed,
    /// A sink is full: stop watching the pipe's fd until
    /// [`LogMux::on_space`] hands it back.
    Throttled,
}

/// How the lines of one read are queued.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// Read because the sinks had room: always queued.
    Task,
    /// Read whatever the room (a task's end): dropped and counted when
    /// they do not fit.
    Own,
}

/// The per-read parts of a line: the time stamp and the rendered prefixes.
#[derive(Default)]
struct Prefix {
    /// Text: `[time ]<tag><pad> | `, for the console (coloured, padded) and
    /// the file (plain). JSON: `{"time":..,"tag":..,"pid":..,"stream":..,`.
    console: Vec<u8>,
    file: Vec<u8>,
}

/// All log streams and the console they are printed to.
pub struct LogMux {
    out: Console,
    opts: LogOptions,
    width: usize,
    streams: Vec<Option<Stream>>,
    free: Vec<usize>,
    buf: Vec<u8>,
    pending: Vec<u8>,
    prefix: Prefix,
    /// Pipes left unwatched until their sinks have room again.
    throttled: Vec<(StreamId, Which)>,
    /// Per stream slot: its recent lines and line count.
    recent: Vec<Recent>,
    /// Shared by the file consoles: readable when one has room again.
    file_space: Arc<OwnedFd>,
    /// File consoles of closed streams that may still be writing.
    closing: Vec<Console>,
    /// Code that sees every line first (crate::loghook).
    hooks: Hooks,
}

impl LogMux {
    /// Prints to `out` as upstream does; `colors` only when the sink is a
    /// terminal and `NO_COLOR` is unset (the caller decides).
    pub fn new(out: Console, colors: bool) -> io::Result<LogMux> {
        LogMux::with_options(
            out,
            LogOptions {
                colors,
                ..LogOptions::default()
            },
        )
    }

    pub fn with_options(out: Console, opts: LogOptions) -> io::Result<LogMux> {
        let space = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(LogMux {
            out,
            opts,
            width: 0,
            streams: Vec::new(),
            free: Vec::new(),
            buf: Vec::new(),
            pending: Vec::new(),
            prefix: Prefix::default(),
            throttled: Vec::new(),
            recent: Vec::new(),
            file_space: Arc::new(space),
            closing: Vec::new(),
            hooks: Hooks::default(),
        })
    }

    /// The log hooks, to add and remove them.
    pub fn hooks(&mut self) -> &mut Hooks {
        &mut self.hooks
    }

    /// The last `n` lines stream `id` printed (at most [`RECENT_LINES`],
    /// each cut to [`RECENT_BYTES`]), oldest first, without the tag.
    pub fn recent(&self, id: StreamId, n: usize) -> Vec<Vec<u8>> {
        self.recent.get(id.0).map_or_else(Vec::new, |r| r.last(n))
    }

    /// How many lines stream `id` printed (a line cut at [`MAX_LINE`]
    /// counts once per piece).
    pub fn lines(&self, id: StreamId) -> u64 {
        self.recent.get(id.0).map_or(0, |r| r.count)
    }

    /// Opens a stream: returns its id and the write ends for the task's
    /// fds 1 and 2. A log file is opened (created) here.
    pub fn open(&mut self, spec: &StreamSpec) -> io::Result<(StreamId, [OwnedFd; 2])> {
        let file = match &spec.file {
            Some(f) => {
                let rf = RotatingFile::open(f.clone())
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.path.display())))?;
                Some(Console::spawn_with_space(
                    Box::new(rf),
                    &f.path.display().to_string(),
                    true,
                    Arc::clone(&self.file_space),
                ))
            }
            None => None,
        };
        let (out_r, out_w) = log_pipe()?;
        let (err_r, err_w) = log_pipe()?;
        if spec.console {
            self.width = self.width.max(spec.tag.chars().count());
        }
        let stream = Stream {
            pipes: [
                Some(Pipe {
                    read: out_r,
                    lines: Lines::new(MAX_LINE),
                }),
                Some(Pipe {
                    read: err_r,
                    lines: Lines::new(MAX_LINE),
                }),
            ],
            tag: spec.tag.clone(),
            color: spec.color,
            pid: 0,
            time: spec.time.unwrap_or(self.opts.time),
            console: spec.console,
            file,
            file_pending: Vec::new(),
            released: false,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                self.streams[i] = Some(stream);
                self.recent[i] = Recent::default();
                i
            }
            None => {
                self.streams.push(Some(stream));
                self.recent.push(Recent::default());
                self.streams.len() - 1
            }
        };
        Ok((StreamId(idx), [out_w, err_w]))
    }

    /// The task's pid, for JSON records and events.
    pub fn set_pid(&mut self, id: StreamId, pid: i32) {
        if let Some(s) = self.stream_mut(id) {
            s.pid = pid;
        }
    }

    fn stream_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.streams.get_mut(id.0).and_then(Option::as_mut)
    }

    /// The read end of pipe `which` of `id`, while it is open.
    pub fn fd(&self, id: StreamId, which: Which) -> Option<BorrowedFd<'_>> {
        let s = self.streams.get(id.0)?.as_ref()?;
        s.pipes[which as usize].as_ref().map(|p| p.read.as_fd())
    }

    /// The fds to watch: readable when throttled pipes may be read again
    /// (ned's console, and the log files'); then call [`LogMux::on_space`].
    pub fn space_fds(&self) -> [BorrowedFd<'_>; 2] {
        [self.out.space_fd(), self.file_space.as_fd()]
    }

    /// A sink has room again: returns the throttled pipes, to be watched
    /// again (they are forgotten here; a pipe that is still too much is
    /// throttled anew by its next pump).
    pub fn on_space(&mut self) -> Vec<(StreamId, Which)> {
        self.out.clear_space();
        let mut b = [0u8; 8];
        let _ = rustix::io::read(&*self.file_space, &mut b);
        std::mem::take(&mut self.throttled)
    }

    /// Reads what is available on a pipe, as long as its sinks have room,
    /// and prints its complete lines.
    pub fn pump(&mut self, id: StreamId, which: Which) -> io::Result<Pumped> {
        self.read_some(id, which, PUMP_ROUNDS, Emit::Task)
    }

    /// At the end of a stream's task: reads what both pipes hold now, and no
    /// more (a grandchild that keeps a pipe open and floods it cannot keep
    /// ned here), whatever the room; lines a sink cannot take are dropped
    /// and counted. Returns what each pipe was left in; one that stays
    /// open goes on through [`LogMux::pump`].
    pub fn drain(&mut self, id: StreamId) -> io::Result<[Pumped; 2]> {
        let mut left = [Pumped::Closed; 2];
        for which in [Which::Out, Which::Err] {
            let Some(fd) = self.fd(id, which) else {
                continue;
            };
            let held = rustix::io::ioctl_fionread(fd).unwrap_or(0) as usize;
            // One read more than the bytes held, to see the end of file.
            left[which as usize] =
                self.read_some(id, which, held.div_ceil(READ_CHUNK) + 1, Emit::Own)?;
        }
        Ok(left)
    }

    /// Whether every sink of `s` can take task lines now.
    fn has_room(&self, s: &Stream) -> bool {
        (!s.console || self.out.has_room()) && s.file.as_ref().is_none_or(Console::has_room)
    }

    /// Up to `reads` reads of a pipe, each printed at once; with
    /// [`Emit::Task`] only while its sinks have room.
    fn read_some(
        &mut self,
        id: StreamId,
        which: Which,
        reads: usize,
        emit: Emit,
    ) -> io::Result<Pumped> {
        if self.buf.len() < READ_CHUNK {
            self.buf.resize(READ_CHUNK, 0);
        }
        for _ in 0..reads {
            let Some(stream) = self.streams.get(id.0).and_then(Option::as_ref) else {
                return Ok(Pumped::Closed);
            };
            if emit == Emit::Task && !self.has_room(stream) {
                if !self.throttled.contains(&(id, which)) {
                    self.throttled.push((id, which));
                }
                return Ok(Pumped::Throttled);
            }
            let Some(pipe) = stream.pipes[which as usize].as_ref() else {
                return Ok(Pumped::Closed);
            };
            match rustix::io::read(&pipe.read, &mut self.buf[..]) {
                Ok(0) => {
                    self.close_pipe(id, which, emit);
                    return Ok(Pumped::Closed);
                }
                Ok(n) => {
                    self.take(id, which, n);
                    self.flush_pending(id, emit);
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Pumped::Open)
    }

    /// Prints the unfinished last lines of `id`, if any, and forgets the
    /// stream.
    pub fn close(&mut self, id: StreamId) {
        for which in [Which::Out, Which::Err] {
            self.close_pipe(id, which, Emit::Own);
        }
        self.release(id);
    }

    /// The stream's task ended and its last event was recorded: the
    /// stream goes once its pipes are closed (now, or when a process that
    /// inherited them ends). Until then events still find its sinks.
    pub fn release(&mut self, id: StreamId) {
        if let Some(s) = self.stream_mut(id) {
            s.released = true;
        }
        self.forget_if_done(id);
    }

    fn forget_if_done(&mut self, id: StreamId) {
        let done = self
            .streams
            .get(id.0)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.released && s.pipes.iter().all(Option::is_none));
        if done && let Some(stream) = self.streams[id.0].take() {
            self.free.push(id.0);
            if let Some(f) = stream.file {
                f.close();
                self.closing.retain(|c| !c.is_done());
                self.closing.push(f);
            }
        }
    }

    /// Prints what is left of a pipe and closes it; a released stream goes
    /// with its last pipe.
    fn close_pipe(&mut self, id: StreamId, which: Which, emit: Emit) {
        let Some(mut stream) = self.streams.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        if let Some(mut pipe) = stream.pipes[which as usize].take() {
            self.stamp(&stream, which);
            pipe.lines.finish(|l| self.line(id, which, &mut stream, l));
            self.throttled.retain(|&t| t != (id, which));
        }
        self.streams[id.0] = Some(stream);
        self.flush_pending(id, emit);
        self.forget_if_done(id);
    }

    /// Renders the per-read prefixes of pipe `which` of `s`.
    fn stamp(&mut self, s: &Stream, which: Which) {
        let p = &mut self.prefix;
        p.console.clear();
        p.file.clear();
        match self.opts.format {
            Format::Text => {
                s.time.now(&mut p.file);
                if !p.file.is_empty() {
                    p.file.push(b' ');
                }
                p.console.extend_from_slice(&p.file);
                if self.opts.colors {
                    p.console.extend_from_slice(s.color.sgr().as_bytes());
                    p.console.extend_from_slice(s.tag.as_bytes());
                    p.console.extend_from_slice(b"\x1b[0m");
                } else {
                    p.console.extend_from_slice(s.tag.as_bytes());
                }
                let pad = self.width.saturating_sub(s.tag.chars().count());
                p.console.extend(std::iter::repeat_n(b' ', pad));
                p.file.extend_from_slice(s.tag.as_bytes());
                let sep: &[u8] = if self.opts.mark_stderr && which == Which::Err {
                    b" ! "
                } else {
                    b" | "
                };
                p.console.extend_from_slice(sep);
                p.file.extend_from_slice(sep);
            }
            Format::Json => {
                json_head(&s.tag, s.pid, s.time, which.name(), &mut p.console);
                p.file.extend_from_slice(&p.console);
            }
        }
    }

    /// Splits the `n` bytes just read into lines of pipe `which` of `id`.
    fn take(&mut self, id: StreamId, which: Which, n: usize) {
        let Some(mut stream) = self.streams.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        let Some(mut pipe) = stream.pipes[which as usize].take() else {
            self.streams[id.0] = Some(stream);
            return;
        };
        self.stamp(&stream, which);
        let buf = std::mem::take(&mut self.buf);
        let mut rest = &buf[..n];
        // Batch hooks see the complete lines of this read at once (with
        // the partial line of the last one in front) and answer for all of
        // them; what they answer is then split into lines as usual.
        let batched;
        if self.hooks.has_batch()
            && let Some(last) = rest.iter().rposition(|&b| b == b'\n')
        {
            let mut lines = pipe.lines.take_partial();
            lines.extend_from_slice(&rest[..=last]);
            let mut out = match self.hooks.filter_batch(&stream.tag, which, &lines) {
                Filtered::Keep => lines,
                Filtered::Replaced(v) => v,
                Filtered::Drop => Vec::new(),
            };
            if out.last().is_some_and(|&b| b != b'\n') {
                out.push(b'\n');
            }
            out.extend_from_slice(&rest[last + 1..]);
            batched = out;
            rest = &batched;
        }
        pipe.lines.feed_runs(rest, |piece| match piece {
            Piece::Line(l) => self.line(id, which, &mut stream, l),
            Piece::Run(run) => self.block(id, which, &mut stream, run),
        });
        self.buf = buf;
        stream.pipes[which as usize] = Some(pipe);
        self.streams[id.0] = Some(stream);
    }

    /// Complete lines of `s` (each ending in `\n`), after
    /// [`LogMux::stamp`]: [`LogMux::line`] for each when a hook asks;
    /// otherwise only the last lines are kept as recent lines
    /// ([`Recent::push_block`]), and when nothing is rendered per line
    /// (plain text, no terminal escaping) the lines are copied behind their
    /// prefixes in one pass.
    fn block(&mut self, id: StreamId, which: Which, s: &mut Stream, block: &[u8]) {
        if !self.hooks.is_empty() {
            for_lines(block, |line| {
                self.line(id, which, s, &line[..line.len() - 1])
            });
            return;
        }
        if self.opts.format == Format::Json || self.opts.escape {
            let mut lines = 0;
            for_lines(block, |line| {
                lines += 1;
                self.render(s, &line[..line.len() - 1]);
            });
            if let Some(r) = self.recent.get_mut(id.0) {
                r.push_block(block, lines);
            }
            return;
        }
        let mut lines = None;
        if s.console {
            lines = Some(tag_lines(block, &self.prefix.console, &mut self.pending));
        }
        if s.file.is_some() {
            lines = Some(tag_lines(block, &self.prefix.file, &mut s.file_pending));
        }
        let lines = lines.unwrap_or_else(|| memchr::memchr_iter(b'\n', block).count());
        if let Some(r) = self.recent.get_mut(id.0) {
            r.push_block(block, lines);
        }
    }

    /// One line of `s`, after [`LogMux::stamp`]: kept in its recent lines
    /// and rendered for each sink.
    fn line(&mut self, id: StreamId, which: Which, s: &mut Stream, line: &[u8]) {
        let rewritten;
        let line = if self.hooks.is_empty() {
            line
        } else {
            match self.hooks.filter(&s.tag, which, line) {
                Filtered::Keep => line,
                Filtered::Drop => return,
                Filtered::Replaced(v) => {
                    rewritten = v;
                    &rewritten[..]
                }
            }
        };
        if let Some(r) = self.recent.get_mut(id.0) {
            r.push(line);
        }
        self.render(s, line);
    }

    /// One line of `s`, after [`LogMux::stamp`], rendered for each sink.
    fn render(&mut self, s: &mut Stream, line: &[u8]) {
        let json = self.opts.format == Format::Json;
        if s.console {
            let out = &mut self.pending;
            out.extend_from_slice(&self.prefix.console);
            if json {
                logfmt::json_line(line, out);
                out.extend_from_slice(b"}\n");
            } else {
                if self.opts.escape && logfmt::needs_term_escape(line) {
                    logfmt::term_escape(line, out);
                } else {
                    out.extend_from_slice(line);
                }
                out.push(b'\n');
            }
        }
        if s.file.is_some() {
            let out = &mut s.file_pending;
            out.extend_from_slice(&self.prefix.file);
            if json {
                logfmt::json_line(line, out);
                out.extend_from_slice(b"}\n");
            } else {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
    }

    /// Prints one of ned's events about stream `id`'s task (`tag`, `pid`
    /// for a task without a stream): always in JSON, in text only with
    /// [`LogOptions::events`]. Goes to the console, and to the task's file
    /// if it has one.
    pub fn event(&mut self, id: Option<StreamId>, tag: &str, pid: i32, ev: &LogEvent<'_>) {
        let json = self.opts.format == Format::Json;
        if !json && !self.opts.events {
            return;
        }
        let stream = id
            .and_then(|i| self.streams.get(i.0))
            .and_then(Option::as_ref);
        let time = stream.map_or(self.opts.time, |s| s.time);
        let text = ev.text(pid);
        let render = |pad: usize| {
            let mut line = Vec::new();
            if json {
                json_head(tag, pid, time, "event", &mut line);
                line.extend_from_slice(format!("\"event\":\"{}\"", ev.name()).as_bytes());
                ev.json_fields(&mut line);
                line.push(b',');
                logfmt::json_line(text.as_bytes(), &mut line);
                line.extend_from_slice(b"}\n");
            } else {
                time.now(&mut line);
                if !line.is_empty() {
                    line.push(b' ');
                }
                line.extend_from_slice(tag.as_bytes());
                line.extend(std::iter::repeat_n(b' ', pad));
                line.extend_from_slice(b" * ");
                line.extend_from_slice(text.as_bytes());
                line.push(b'\n');
            }
            line
        };
        if stream.is_none_or(|s| s.console) {
            let pad = self.width.saturating_sub(tag.chars().count());
            self.out.write_lines(&render(pad));
        }
        if let Some(f) = stream.and_then(|s| s.file.as_ref()) {
            f.write_lines(&render(0));
        }
    }

    /// Queues what was rendered: lines read with room always, others as
    /// far as each sink takes them.
    fn flush_pending(&mut self, id: StreamId, emit: Emit) {
        match emit {
            Emit::Task => self.out.write_read(&mut self.pending),
            Emit::Own => {
                self.out.write_lines(&self.pending);
                self.pending.clear();
            }
        }
        if let Some(s) = self.streams.get_mut(id.0).and_then(Option::as_mut)
            && let Some(f) = &s.file
        {
            match emit {
                Emit::Task => f.write_read(&mut s.file_pending),
                Emit::Own => {
                    f.write_lines(&s.file_pending);
                    s.file_pending.clear();
                }
            }
        }
    }
}

/// Calls `f` with each line of `block` (complete lines), its `\n` included.
fn for_lines(block: &[u8], mut f: impl FnMut(&[u8])) {
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', block) {
        f(&block[start..=end]);
        start = end + 1;
    }
}

/// Appends each line of `block` (complete lines, each ending in `\n`) to
/// `out` behind `prefix`; returns how many there were.
///
/// This is the hot path of a busy log (8 writers × 200,000 lines: 1.6
/// million lines of about 45 bytes), so it avoids a `memchr` call and two
/// `memcpy` calls per line, whose set-up costs more than such a line: the
/// prefix goes out in 16-byte copies and the line in 32-byte ones, all of
/// a size the compiler knows, so they are a few vector moves each; each
/// 32-byte piece is searched for the `\n` with word arithmetic on its way
/// and what was copied beyond it is cut off again. In a micro-benchmark on
/// 64 KiB of such lines behind `w3 | `: 8 ns a line against 13 for the
/// `memchr` and `memcpy` loop (2026-12-02; bench/README.md).
fn tag_lines(block: &[u8], prefix: &[u8], out: &mut Vec<u8>) -> usize {
    const PIECE: usize = 32;
    let (whole, rest) = prefix.as_chunks::<16>();
    let mut last = [0u8; 16];
    last[..rest.len()].copy_from_slice(rest);
    let over = last.len() - rest.len();
    out.reserve(block.len() + block.len() / 4 + 2 * PIECE);
    let mut lines = 0;
    let mut at = 0;
    while at < block.len() {
        lines += 1;
        for c in whole {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&last);
        out.truncate(out.len() - over);
        loop {
            let Some(piece) = block[at..].first_chunk::<PIECE>() else {
                // The last bytes of the block: the ordinary way.
                let end = memchr::memchr(b'\n', &block[at..]).map_or(block.len(), |nl| at + nl + 1);
                out.extend_from_slice(&block[at..end]);
                at = end;
                break;
            };
            out.extend_from_slice(piece);
            if let Some(nl) = first_newline(piece) {
                out.truncate(out.len() - (PIECE - 1 - nl));
                at += nl + 1;
                break;
            }
            at += PIECE;
        }
    }
    lines
}

/// Where the first `\n` of `piece` is: a word's bytes that equal `\n` are
/// zero after an XOR, and `(x - 0x01..) & !x & 0x80..` marks the lowest
/// zero byte of `x` exactly (only bytes above it can be marked falsely,
/// by the borrow).
fn first_newline(piece: &[u8; 32]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    for (i, w) in piece.as_chunks::<8>().0.iter().enumerate() {
        let x = u64::from_le_bytes(*w) ^ (ONES * u64::from(b'\n'));
        let zero = x.wrapping_sub(ONES) & !x & HIGH;
        if zero != 0 {
            return Some(i * 8 + (zero.trailing_zeros() / 8) as usize);
        }
    }
    None
}

/// `{"time":..,"tag":..,"pid":..,"stream":..,`: a UTC time, or with
/// [`Time::Mono`] a `"mono"` number of seconds.
fn json_head(tag: &str, pid: i32, time: Time, stream: &str, out: &mut Vec<u8>) {
    if time == Time::Mono {
        out.extend_from_slice(b"{\"mono\":");
        Time::Mono.now(out);
    } else {
        out.extend_from_slice(b"{\"time\":\"");
        Time::Utc.now(out);
        out.push(b'"');
    }
    out.extend_from_slice(b",\"tag\":\"");
    logfmt::json_str(tag, out);
    out.extend_from_slice(format!("\",\"pid\":{pid},\"stream\":\"{stream}\",").as_bytes());
}

/// A line the script printed (without its line end) as a JSON record,
/// `{"time":..,"tag":"print","pid":<ned's>,"stream":"print","line":..}`.
pub fn print_record(line: &[u8]) -> Vec<u8> {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    let mut out = Vec::with_capacity(line.len() + 100);
    json_head("print", pid, Time::Utc, "print", &mut out);
    logfmt::json_line(line, &mut out);
    out.extend_from_slice(b"}\n");
    out
}

fn log_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK)?;
    Ok((read, write))
}

impl Drop for LogMux {
    /// Gives the log files [`EXIT_FLUSH`] to take what is queued; what is
    /// left is reported.
    fn drop(&mut self) {
        let deadline = Instant::now() + EXIT_FLUSH;
        let open = self
            .streams
            .iter_mut()
            .filter_map(|s| s.as_mut().and_then(|s| s.file.take()));
        let files: Vec<Console> = open.chain(self.closing.drain(..)).collect();
        for f in &files {
            f.close();
        }
        for f in files {
            let lost = f.flush(deadline);
            if lost > 0 {
                crate::diag!("ned: {lost} log file lines dropped at exit: disk too slow");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::tests::{Sink, console, readable, soon};
    use crate::console::{QUEUE_LIMIT, QUEUE_SOFT};
    use crate::logfile::numbered;
    use std::time::Duration;

    fn write_all(fd: &OwnedFd, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            done += rustix::io::write(fd, &data[done..]).unwrap();
        }
    }

    #[test]
    fn lines_are_tagged_padded_and_partials_flushed_at_close() {
        let sink = Sink::default();
        let mut mux = LogMux::new(console(&sink), false).unwrap();
        let (a, [wa, _]) = mux
            .open(&StreamSpec::tagged("server", Color::WHITE))
            .unwrap();
        let (b, [wb, _]) = mux
            .open(&StreamSpec::tagged("c", Color::parse("green").unwrap()))
            .unwrap();
        write_all(&wa, b"one\ntw");
        write_all(&wb, b"x\xff\n");
        mux.pump(a, Which::Out).unwrap();
        mux.pump(b, Which::Out).unwrap();
        write_all(&wa, b"o\nlast");
        drop(wa);
        assert_eq!(mux.pump(a, Which::Out).unwrap(), Pumped::Closed);
        assert_eq!(mux.out.flush(soon()), 0);
        let out = sink.out.lock().unwrap().clone();
        assert_eq!(
            out,
            b"server | one\nc      | x\xff\nserver | two\nserver | last\n".to_vec()
        );
        drop(wb);
    }

    #[test]
    fn a_read_of_many_lines_is_printed_whole_counted_and_its_last_lines_kept() {
        let sink = Sink::default();
        let mut mux = LogMux::new(console(&sink), false).unwrap();
        let (a, [wa, _]) = mux.open(&StreamSpec::tagged("a", Color::WHITE)).unwrap();
        write_all(&wa, b"fir");
        mux.pump(a, Which::Out).unwrap();
        // One read: the end of the unfinished line, then 1,000 more.
        let many: String = (0..1000).map(|i| format!("l{i}\n")).collect();
        write_all(&wa, format!("st\n{many}").as_bytes());
        mux.pump(a, Which::Out).unwrap();
        assert_eq!(mux.out.flush(soon()), 0);
        let expected: String = std::iter::once("a | first\n".to_owned())
            .chain((0..1000).map(|i| format!("a | l{i}\n")))
            .collect();
        assert_eq!(*sink.out.lock().unwrap(), expected.into_bytes());
        assert_eq!(mux.lines(a), 1001);
        let kept = mux.recent(a, usize::MAX);
        assert_eq!(kept.len(), RECENT_LINES);
        assert_eq!(kept[0], format!("l{}", 1000 - RECENT_LINES).into_bytes());
        assert_eq!(kept[RECENT_LINES - 1], b"l999".to_vec());
        drop(wa);
    }

    #[test]
    fn overlong_lines_are_cut_and_colours_applied() {
        let sink = Sink::default();
        let mut mux = LogMux::new(console(&sink), true).unwrap();
        let (a, [wa, _]) = mux
            .open(&StreamSpec::tagged("t", Color::parse("B").unwrap()))
            .unwrap();
        // The pipe holds less than a long line: feed it in pieces.
        for _ in 0..(MAX_LINE + 10) / 1000 {
            write_all(&wa, &[b'x'; 1000]);
            mux.pump(a, Which::Out).unwrap();
        }
        write_all(&wa, &[b'x'; (MAX_LINE + 10) % 1000]);
        drop(wa);
        while mux.pump(a, Which::Out).unwrap() != Pumped::Closed {}
        assert_eq!(mux.out.flush(soon()), 0);
        let out = sink.out.lock().unwrap().clone();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("\x1b[1;94mt\x1b[0m | xxx"));
        assert_eq!(lines[1], "\x1b[1;94mt\x1b[0m | xxxxxxxxxx");
    }

    /// Found by fuzz/fuzz_targets/log_lines.rs: the lines depended on where
    /// the reads ended. A line whose start and end came in different reads
    /// was printed whole however long (up to twice MAX_LINE), and one of
    /// exactly the maximum whose `\n` came in a later read was followed by
    /// an empty line that the task never wrote.
    #[test]
    fn lines_do_not_depend_on_where_reads_end() {
        let all = |reads: &[&[u8]]| {
            let mut l = Lines::new(4);
            let mut got: Vec<Vec<u8>> = Vec::new();
            for r in reads {
                l.feed(r, |x| got.push(x.to_vec()));
            }
            l.finish(|x| got.push(x.to_vec()));
            got
        };
        let want: Vec<Vec<u8>> = [&b"abcd"[..], b"ef", b"", b"wxyz", b"12"]
            .map(<[u8]>::to_vec)
            .to_vec();
        assert_eq!(
            all(&[b"abcdef

wxyz
12"]),
            want
        );
        assert_eq!(
            all(&[
                b"abc", b"def
", b"
wxyz", b"
1", b"2"
            ]),
            want
        );
        assert_eq!(
            all(&[
                b"abcd", b"ef

wx", b"yz", b"
12"
            ]),
            want
        );

        let sink = Sink::default();
        let mut mux = LogMux::new(console(&sink), false).unwrap();
        let (a, [wa, _]) = mux.open(&StreamSpec::tagged("t", Color::WHITE)).unwrap();
        let half = vec![b'h'; MAX_LINE / 2 + 100];
        write_all(&wa, &half);
        mux.pump(a, Which::Out).unwrap();
        write_all(&wa, &half);
        write_all(&wa, b"\n");
        mux.pump(a, Which::Out).unwrap();
        write_all(&wa, &vec![b'm'; MAX_LINE]);
        mux.pump(a, Which::Out).unwrap();
        write_all(&wa, b"\n");
        drop(wa);
        while mux.pump(a, Which::Out).unwrap() != Pumped::Closed {}
        assert_eq!(mux.out.flush(soon()), 0);
        let text = sink.text();
        let lens: Vec<usize> = text.lines().map(|l| l.len() - "t | ".len()).collect();
        assert_eq!(lens, [MAX_LINE, 2 * half.len() - MAX_LINE, MAX_LINE]);
    }

    #[test]
    fn a_full_console_throttles_the_pipe_and_loses_nothing() {
        let sink = Sink::stalled();
        let mut mux = LogMux::new(console(&sink), false).unwrap();
        let (a, [wa, _]) = mux.open(&StreamSpec::tagged("t", Color::WHITE)).unwrap();
        let n = 4 * QUEUE_SOFT / 8;
        let writer = std::thread::spawn(move || {
            for i in 0..n {
                write_all(&wa, format!("{i}\n").as_bytes());
            }
        });
        let mut throttled = 0;
        loop {
            match mux.pump(a, Which::Out).unwrap() {
                Pumped::Open => {
                    let fd = mux.fd(a, Which::Out).unwrap();
                    assert!(readable(fd, Duration::from_secs(10)), "the writer stopped");
                }
                Pumped::Throttled => {
                    if throttled == 0 {
                        // Nothing drains: no space, and ned is not blocked.
                        assert!(!readable(mux.space_fds()[0], Duration::from_millis(50)));
                        sink.open();
                    }
                    throttled += 1;
                    assert!(readable(mux.space_fds()[0], Duration::from_secs(10)));
                    assert_eq!(mux.on_space(), [(a, Which::Out)]);
                }
                Pumped::Closed => break,
            }
        }
        writer.join().unwrap();
        assert!(throttled > 0, "the console never filled");
        assert_eq!(mux.out.flush(soon()), 0);
        let text = sink.text();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), n, "lines lost or a drop report");
        for (i, l) in got.iter().enumerate() {
            assert_eq!(*l, format!("t | {i}"));
        }
    }

    #[test]
    fn what_a_task_left_is_drained_at_once_and_the_excess_counted() {
        let sink = Sink::stalled();
        let mut mux = LogMux::new(console(&sink), false).unwrap();
        let (a, [wa, _]) = mux.open(&StreamSpec::tagged("t", Color::WHITE)).unwrap();
        // The console is nearly full of ned's own lines.
        let filler = [&vec![b'f'; 99][..], b"\n"].concat();
        for _ in 0..(QUEUE_LIMIT - 2000) / 100 {
            mux.out.write_lines(&filler);
        }
        let left: Vec<u8> = (0..1000)
            .flat_map(|i| format!("{i:03}\n").into_bytes())
            .collect();
        write_all(&wa, &left);
        write_all(&wa, b"partial");
        drop(wa);
        assert_eq!(mux.drain(a).unwrap()[0], Pumped::Closed);
        sink.open();
        assert_eq!(mux.out.flush(soon()), 0);
        let text = sink.text();
        let kept: Vec<&str> = text.lines().filter(|l| l.starts_with("t | ")).collect();
        assert!(!kept.is_empty() && kept.len() < 1001, "{}", kept.len());
        for (i, l) in kept.iter().enumerate() {
            assert_eq!(*l, format!("t | {i:03}"), "a prefix, in order");
        }
        let report = format!("ned: {} lines dropped: console too slow", 1001 - kept.len());
        assert_eq!(text.lines().last(), Some(report.as_str()));
    }

    #[test]
    fn recent_lines_and_counts_are_kept_per_stream_and_bounded() {
        let sink = Sink::default();
        let mut mux = LogMux::new(console(&sink), false).unwrap();
        let (a, [wa, _]) = mux.open(&StreamSpec::tagged("a", Color::WHITE)).unwrap();
        let (b, [wb, _]) = mux.open(&StreamSpec::tagged("b", Color::WHITE)).unwrap();
        for i in 0..1000 {
            write_all(&wa, format!("a{i}\n").as_bytes());
            if i % 100 == 0 {
                mux.pump(a, Which::Out).unwrap();
            }
        }
        write_all(&wb, b"only\n");
        mux.pump(a, Which::Out).unwrap();
        mux.pump(b, Which::Out).unwrap();
        assert_eq!(mux.lines(a), 1000);
        assert_eq!(mux.lines(b), 1);
        assert_eq!(mux.recent(b, 10), [b"only".to_vec()]);
        assert_eq!(
            mux.recent(a, 3),
            [b"a997".to_vec(), b"a998".to_vec(), b"a999".to_vec()]
        );
        let all = mux.recent(a, usize::MAX);
        assert_eq!(all.len(), RECENT_LINES);
        assert_eq!(all[0], format!("a{}", 1000 - RECENT_LINES).into_bytes());
        // Long lines: bounded in bytes, each cut to RECENT_BYTES.
        let long = vec![b'L'; RECENT_BYTES + 100];
        for _ in 0..4 {
            write_all(&wb, &long);
            write_all(&wb, b"\n");
            assert_eq!(mux.pump(b, Which::Out).unwrap(), Pumped::Open);
        }
        drop(wb);
        while mux.pump(b, Which::Out).unwrap() != Pumped::Closed {}
        assert_eq!(mux.pump(b, Which::Err).unwrap(), Pumped::Closed);
        mux.release(b);
        assert_eq!(mux.lines(b), 5);
        let kept = mux.recent(b, 10);
        assert!(kept.len() <= 2 && !kept.is_empty(), "{}", kept.len());
        assert!(kept.iter().all(|l| l.len() == RECENT_BYTES));
        // Kept after the stream closed, reset when its id is reused.
        let (c, [wc, _]) = mux.open(&StreamSpec::tagged("c", Color::WHITE)).unwrap();
        assert_eq!(c, b);
        assert_eq!(mux.lines(c), 0);
        assert!(mux.recent(c, 1).is_empty());
        assert!(mux.recent(StreamId(99), 1).is_empty());
        drop((wa, wc));
    }

    fn opts(format: Format) -> LogOptions {
        LogOptions {
            format,
            ..LogOptions::default()
        }
    }

    #[test]
    fn streams_are_kept_apart_and_marked_on_request() {
        let sink = Sink::default();
        let o = LogOptions {
            mark_stderr: true,
            ..opts(Format::Text)
        };
        let mut mux = LogMux::with_options(console(&sink), o).unwrap();
        let (a, [out, err]) = mux.open(&StreamSpec::tagged("t", Color::WHITE)).unwrap();
        write_all(&err, b"e1\ne");
        write_all(&out, b"o1\n");
        mux.pump(a, Which::Err).unwrap();
        mux.pump(a, Which::Out).unwrap();
        drop((out, err));
        mux.drain(a).unwrap();
        assert!(mux.fd(a, Which::Out).is_none() && mux.fd(a, Which::Err).is_none());
        assert_eq!(mux.out.flush(soon()), 0);
        assert_eq!(sink.text(), "t ! e1\nt | o1\nt ! e\n");
        assert_eq!(mux.lines(a), 3);
    }

    #[test]
    fn json_records_events_and_terminal_escapes() {
        let sink = Sink::default();
        let mut mux = LogMux::with_options(console(&sink), opts(Format::Json)).unwrap();
        let (a, [out, err]) = mux
            .open(&StreamSpec::tagged("we\"b", Color::WHITE))
            .unwrap();
        mux.set_pid(a, 42);
        let argv = [CString::new("/bin/x").unwrap()];
        mux.event(Some(a), "we\"b", 42, &LogEvent::Started { argv: &argv });
        write_all(&out, b"caf\xc3\xa9 \x1b[2J\n\xff\xfe\n");
        write_all(&err, b"oops");
        drop((out, err));
        mux.drain(a).unwrap();
        mux.event(None, "gone", 7, &LogEvent::Killed(9));
        assert_eq!(mux.out.flush(soon()), 0);
        let text = sink.text();
        let recs: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(recs.len(), 5, "{text}");
        assert_eq!(recs[0]["event"], "started");
        assert_eq!(recs[0]["argv"][0], "/bin/x");
        assert_eq!(recs[1]["tag"], "we\"b");
        assert_eq!(recs[1]["pid"], 42);
        assert_eq!(recs[1]["stream"], "stdout");
        assert_eq!(recs[1]["line"], "caf\u{e9} \u{1b}[2J");
        assert_eq!(recs[2]["line_b64"], "//4=");
        assert_eq!(recs[3]["stream"], "stderr");
        assert_eq!(recs[3]["line"], "oops");
        assert_eq!(
            (recs[4]["event"].as_str(), recs[4]["signal"].as_i64()),
            (Some("killed"), Some(9))
        );
        assert!(recs[4]["time"].as_str().is_some_and(|t| t.ends_with('Z')));

        // Text on a terminal: colour passes, the rest is escaped.
        let sink = Sink::default();
        let o = LogOptions {
            escape: true,
            events: true,
            ..opts(Format::Text)
        };
        let mut mux = LogMux::with_options(console(&sink), o).unwrap();
        let (a, [out, _]) = mux.open(&StreamSpec::tagged("t", Color::WHITE)).unwrap();
        write_all(&out, b"\x1b[31mred\x1b[0m\x1b]0;x\x07\n");
        drop(out);
        mux.drain(a).unwrap();
        mux.event(None, "t", 5, &LogEvent::Exited(3));
        assert_eq!(mux.out.flush(soon()), 0);
        assert_eq!(
            sink.text(),
            "t | \x1b[31mred\x1b[0m\\x1b]0;x\\x07\nt * exited with code 3\n"
        );
    }

    #[test]
    fn a_file_sink_rotates_and_the_console_copy_can_be_off() {
        let dir = std::env::temp_dir().join(format!("ned-log-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("t.log");
        let sink = Sink::default();
        let mut mux = LogMux::new(console(&sink), false).unwrap();
        let spec = StreamSpec {
            file: Some(FileSpec {
                path: path.clone(),
                max_size: 1000,
                keep: 100,
            }),
            console: false,
            time: Some(Time::Mono),
            ..StreamSpec::tagged("t", Color::WHITE)
        };
        let (a, [out, err]) = mux.open(&spec).unwrap();
        drop(err);
        let n = 500;
        let writer = std::thread::spawn(move || {
            for i in 0..n {
                write_all(&out, format!("{i}\n").as_bytes());
            }
        });
        while mux.pump(a, Which::Out).unwrap() != Pumped::Closed {
            let fd = mux.fd(a, Which::Out).unwrap();
            assert!(readable(fd, Duration::from_secs(10)), "the writer stopped");
        }
        writer.join().unwrap();
        mux.pump(a, Which::Err).unwrap();
        drop(mux);
        assert!(sink.text().is_empty(), "{}", sink.text());
        let mut files = vec![path.clone()];
        files.extend((1..100).map(|i| numbered(&path, i)).filter(|p| p.exists()));
        assert!(files.len() > 3, "{files:?}");
        let mut got = Vec::new();
        for f in files.iter().rev() {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.len() <= 1000);
            for l in text.lines() {
                let (time, rest) = l.split_once(' ').unwrap();
                assert!(time.parse::<f64>().is_ok(), "{l}");
                got.push(rest.strip_prefix("t | ").unwrap().parse::<usize>().unwrap());
            }
        }
        assert_eq!(got, (0..n).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Recent lines kept from whole reads are those kept line by line.
    #[test]
    fn recent_lines_of_a_block_are_those_of_its_lines() {
        let (mut bulk, mut each) = (Recent::default(), Recent::default());
        let mut n = 0;
        for round in 0..200 {
            let mut block = Vec::new();
            for _ in 0..(round * 37) % 700 + 1 {
                let len = (n * 31) % [20, 100, 300, 3000][round % 4];
                block.extend((0..len).map(|i| b'a' + (i % 26) as u8));
                block.extend_from_slice(format!(" {n}\n").as_bytes());
                n += 1;
            }
            let lines = memchr::memchr_iter(b'\n', &block).count();
            bulk.push_block(&block, lines);
            for_lines(&block, |l| each.push(&l[..l.len() - 1]));
            assert_eq!(bulk.count, each.count);
            let k = bulk.ends.len().min(each.ends.len());
            assert!(k >= n.min(8), "round {round}: {k} lines kept");
            let tails = |r: &Recent| -> Vec<String> {
                r.last(k)
                    .iter()
                    .map(|l| String::from_utf8_lossy(&l[l.len().saturating_sub(12)..]).into_owned())
                    .collect()
            };
            assert_eq!(tails(&bulk), tails(&each), "round {round}");
        }
    }

    /// The fast copy is the plain one: every line behind its prefix, for
    /// lines and prefixes of every length around its 16- and 32-byte
    /// pieces, a `\n` at every place in a piece and blocks that end
    /// inside one.
    #[test]
    fn tagged_lines_are_the_lines_behind_their_prefix() {
        let mut block = Vec::new();
        for len in (0..100).chain([255, 256, 1000, 4097]) {
            block.extend((0..len).map(|i| b'a' + (i % 26) as u8));
            block.push(b'\n');
        }
        for prefix in [
            "",
            "w | ",
            "0123456789abcde",
            "0123456789abcdef",
            "t * 2026-12-02T01:48:44.819Z a-long-tag | ",
        ] {
            for cut in [0, 1, 31, 32, 33, 500] {
                let part = &block[cut..];
                let part = &part[..=memchr::memrchr(b'\n', part).unwrap()];
                let mut want = b"kept".to_vec();
                let mut lines = 0;
                for_lines(part, |l| {
                    want.extend_from_slice(prefix.as_bytes());
                    want.extend_from_slice(l);
                    lines += 1;
                });
                let mut got = b"kept".to_vec();
                assert_eq!(tag_lines(part, prefix.as_bytes(), &mut got), lines);
                assert!(got == want, "prefix {prefix:?}, block from {cut}");
            }
        }
        for at in 0..32 {
            let mut piece = [b'x'; 32];
            piece[at] = b'\n';
            piece[31] = b'\n';
            assert_eq!(first_newline(&piece), Some(at));
        }
        assert_eq!(first_newline(&[0x8a; 32]), None);
        assert_eq!(first_newline(&[0x0b; 32]), None);
    }

    #[test]
    fn colour_names_and_numbers() {
        assert_eq!(Color::parse("blue"), Some(Color(4)));
        assert_eq!(Color::parse("Red"), Some(Color(9)));
        assert_eq!(Color::parse("15"), Some(Color(15)));
        assert_eq!(Color::parse("16"), None);
        assert_eq!(Color::parse(""), None);
        assert_eq!(Color::parse("?"), None);
    }
}
