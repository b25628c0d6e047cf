//! The log multiplexer: every task's stdout and stderr arrive on one pipe per
//! task; ned prints each complete line as `<tag> | <line>`.
//!
//! Lines are assembled per stream, so output of different tasks never mixes
//! inside a line. All lines that one read produced are queued at once on
//! ned's stdout [`Console`], which keeps throughput high when many tasks log
//! at once. A line longer than [`MAX_LINE`] is cut there, so a task without
//! newlines cannot make ned grow without bound. Bytes are passed through
//! untouched, UTF-8 or not.
//!
//! A pipe is read only while the console has room ([`LogMux::pump`] answers
//! [`Pumped::Throttled`] otherwise): the task then waits on its own full
//! pipe and loses nothing, and ned's loop goes on. What a task left in its
//! pipe when it ended ([`LogMux::drain`]) is read at once, whatever the
//! room, and counted as dropped where the console cannot take it.
//!
//! Each stream also keeps its most recent lines ([`LogMux::recent`], at most
//! [`RECENT_LINES`] lines and [`RECENT_BYTES`] bytes) and counts every line
//! it printed ([`LogMux::lines`]), for views that show a task's log. Both
//! stay readable after the stream closed, until its id is reused by a new
//! stream.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::console::Console;

/// Longest line kept before it is printed in pieces.
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

/// One task's log stream.
struct Stream {
    read: OwnedFd,
    /// Rendered prefix `<tag> | ` (padded and coloured when it was opened).
    tag: String,
    color: Color,
    /// The unfinished last line.
    partial: Vec<u8>,
}

/// Identifies a stream inside the multiplexer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamId(pub usize);

/// What [`LogMux::pump`] and [`LogMux::drain`] left a stream in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pumped {
    /// Still open; watch it as before.
    Open,
    /// End of file: the stream is closed and its fd gone.
    Closed,
    /// The console is full: stop watching the stream's fd until
    /// [`LogMux::on_space`] hands it back.
    Throttled,
}

/// How the lines of one read are queued.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Emit {
    /// Read because the console had room: always queued.
    Task,
    /// Read whatever the room (a task's end): dropped and counted when
    /// they do not fit.
    Own,
}

/// All log streams and the console they are printed to.
pub struct LogMux {
    out: Console,
    colors: bool,
    width: usize,
    streams: Vec<Option<Stream>>,
    free: Vec<usize>,
    buf: Vec<u8>,
    pending: Vec<u8>,
    /// Streams left unwatched until the console has room again.
    throttled: Vec<StreamId>,
    /// Per stream slot: its recent lines and line count.
    recent: Vec<Recent>,
}

impl LogMux {
    /// Prints to `out`; `colors` only when the sink is a terminal and
    /// `NO_COLOR` is unset (the caller decides).
    pub fn new(out: Console, colors: bool) -> LogMux {
        LogMux {
            out,
            colors,
            width: 0,
            streams: Vec::new(),
            free: Vec::new(),
            buf: Vec::new(),
            pending: Vec::new(),
            throttled: Vec::new(),
            recent: Vec::new(),
        }
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

    /// Opens a stream: returns its id and the write end for the task's fds 1, 2.
    pub fn open(&mut self, tag: &str, color: Color) -> io::Result<(StreamId, OwnedFd)> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK)?;
        self.width = self.width.max(tag.chars().count());
        let stream = Stream {
            read,
            tag: tag.to_owned(),
            color,
            partial: Vec::new(),
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
        Ok((StreamId(idx), write))
    }

    /// The read end to watch for `id`.
    pub fn fd(&self, id: StreamId) -> Option<BorrowedFd<'_>> {
        self.streams.get(id.0)?.as_ref().map(|s| s.read.as_fd())
    }

    /// The console's fd to watch: readable when throttled streams may be
    /// read again; then call [`LogMux::on_space`].
    pub fn space_fd(&self) -> BorrowedFd<'_> {
        self.out.space_fd()
    }

    /// The console has room again: returns the throttled streams, to be
    /// watched again (they are forgotten here; a stream that is still too
    /// much is throttled anew by its next pump).
    pub fn on_space(&mut self) -> Vec<StreamId> {
        self.out.clear_space();
        std::mem::take(&mut self.throttled)
    }

    /// Reads what is available on `id`, as long as the console has room,
    /// and prints its complete lines.
    pub fn pump(&mut self, id: StreamId) -> io::Result<Pumped> {
        self.read_some(id, PUMP_ROUNDS, Emit::Task)
    }

    /// At the end of a stream's task: reads what the pipe holds now, and no
    /// more (a grandchild that keeps the pipe open and floods it cannot keep
    /// ned here), whatever the console's room; lines it cannot take are
    /// dropped and counted. A stream that stays open goes on through
    /// [`LogMux::pump`].
    pub fn drain(&mut self, id: StreamId) -> io::Result<Pumped> {
        let Some(stream) = self.streams.get(id.0).and_then(Option::as_ref) else {
            return Ok(Pumped::Closed);
        };
        let held = rustix::io::ioctl_fionread(&stream.read).unwrap_or(0) as usize;
        // One read more than the bytes held, to see the end of file.
        self.read_some(id, held.div_ceil(READ_CHUNK) + 1, Emit::Own)
    }

    /// Up to `reads` reads of `id`, each printed at once; with
    /// [`Emit::Task`] only while the console has room.
    fn read_some(&mut self, id: StreamId, reads: usize, emit: Emit) -> io::Result<Pumped> {
        if self.buf.len() < READ_CHUNK {
            self.buf.resize(READ_CHUNK, 0);
        }
        for _ in 0..reads {
            if emit == Emit::Task && !self.out.has_room() {
                if !self.throttled.contains(&id) {
                    self.throttled.push(id);
                }
                return Ok(Pumped::Throttled);
            }
            let Some(stream) = self.streams.get(id.0).and_then(Option::as_ref) else {
                return Ok(Pumped::Closed);
            };
            match rustix::io::read(&stream.read, &mut self.buf[..]) {
                Ok(0) => {
                    self.close_as(id, emit);
                    return Ok(Pumped::Closed);
                }
                Ok(n) => {
                    self.take(id, n);
                    self.flush_pending(emit);
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Pumped::Open)
    }

    /// Prints the unfinished last line of `id`, if any, and forgets the
    /// stream.
    pub fn close(&mut self, id: StreamId) {
        self.close_as(id, Emit::Own);
    }

    fn close_as(&mut self, id: StreamId, emit: Emit) {
        if let Some(mut stream) = self.streams.get_mut(id.0).and_then(Option::take) {
            if !stream.partial.is_empty() {
                let line = std::mem::take(&mut stream.partial);
                self.render(id, &stream.tag, stream.color, &line);
            }
            self.free.push(id.0);
            self.throttled.retain(|&t| t != id);
        }
        self.flush_pending(emit);
    }

    /// Splits the `n` bytes just read into lines of stream `id`.
    fn take(&mut self, id: StreamId, n: usize) {
        let Some(mut stream) = self.streams.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        let buf = std::mem::take(&mut self.buf);
        let mut rest = &buf[..n];
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(pos);
            if stream.partial.is_empty() {
                self.render(id, &stream.tag, stream.color, line);
            } else {
                stream.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut stream.partial);
                self.render(id, &stream.tag, stream.color, &whole);
            }
            rest = &tail[1..];
        }
        stream.partial.extend_from_slice(rest);
        while stream.partial.len() >= MAX_LINE {
            let tail = stream.partial.split_off(MAX_LINE);
            let line = std::mem::replace(&mut stream.partial, tail);
            self.render(id, &stream.tag, stream.color, &line);
        }
        if stream.partial.capacity() > MAX_LINE * 2 {
            stream.partial.shrink_to(MAX_LINE);
        }
        self.buf = buf;
        self.streams[id.0] = Some(stream);
    }

    fn render(&mut self, id: StreamId, tag: &str, color: Color, line: &[u8]) {
        if let Some(r) = self.recent.get_mut(id.0) {
            r.push(line);
        }
        let pad = self.width.saturating_sub(tag.chars().count());
        if self.colors {
            self.pending.extend_from_slice(color.sgr().as_bytes());
            self.pending.extend_from_slice(tag.as_bytes());
            self.pending.extend_from_slice(b"\x1b[0m");
        } else {
            self.pending.extend_from_slice(tag.as_bytes());
        }
        self.pending.extend(std::iter::repeat_n(b' ', pad));
        self.pending.extend_from_slice(b" | ");
        self.pending.extend_from_slice(line);
        self.pending.push(b'\n');
    }

    /// Queues what was rendered: lines read with room always, others as
    /// far as the console takes them.
    fn flush_pending(&mut self, emit: Emit) {
        match emit {
            Emit::Task => self.out.write_read(&mut self.pending),
            Emit::Own => {
                self.out.write_lines(&self.pending);
                self.pending.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::tests::{Sink, console, readable, soon};
    use crate::console::{QUEUE_LIMIT, QUEUE_SOFT};
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
        let mut mux = LogMux::new(console(&sink), false);
        let (a, wa) = mux.open("server", Color::WHITE).unwrap();
        let (b, wb) = mux.open("c", Color::parse("green").unwrap()).unwrap();
        write_all(&wa, b"one\ntw");
        write_all(&wb, b"x\xff\n");
        mux.pump(a).unwrap();
        mux.pump(b).unwrap();
        write_all(&wa, b"o\nlast");
        drop(wa);
        assert_eq!(mux.pump(a).unwrap(), Pumped::Closed);
        assert_eq!(mux.out.flush(soon()), 0);
        let out = sink.out.lock().unwrap().clone();
        assert_eq!(
            out,
            b"server | one\nc      | x\xff\nserver | two\nserver | last\n".to_vec()
        );
        drop(wb);
    }

    #[test]
    fn overlong_lines_are_cut_and_colours_applied() {
        let sink = Sink::default();
        let mut mux = LogMux::new(console(&sink), true);
        let (a, wa) = mux.open("t", Color::parse("B").unwrap()).unwrap();
        // The pipe holds less than a long line: feed it in pieces.
        for _ in 0..(MAX_LINE + 10) / 1000 {
            write_all(&wa, &[b'x'; 1000]);
            mux.pump(a).unwrap();
        }
        write_all(&wa, &[b'x'; (MAX_LINE + 10) % 1000]);
        drop(wa);
        while mux.pump(a).unwrap() != Pumped::Closed {}
        assert_eq!(mux.out.flush(soon()), 0);
        let out = sink.out.lock().unwrap().clone();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("\x1b[1;94mt\x1b[0m | xxx"));
        assert_eq!(lines[1], "\x1b[1;94mt\x1b[0m | xxxxxxxxxx");
    }

    #[test]
    fn a_full_console_throttles_the_pipe_and_loses_nothing() {
        let sink = Sink::stalled();
        let mut mux = LogMux::new(console(&sink), false);
        let (a, wa) = mux.open("t", Color::WHITE).unwrap();
        let n = 4 * QUEUE_SOFT / 8;
        let writer = std::thread::spawn(move || {
            for i in 0..n {
                write_all(&wa, format!("{i}\n").as_bytes());
            }
        });
        let mut throttled = 0;
        loop {
            match mux.pump(a).unwrap() {
                Pumped::Open => {
                    let fd = mux.fd(a).unwrap();
                    assert!(readable(fd, Duration::from_secs(10)), "the writer stopped");
                }
                Pumped::Throttled => {
                    if throttled == 0 {
                        // Nothing drains: no space, and ned is not blocked.
                        assert!(!readable(mux.space_fd(), Duration::from_millis(50)));
                        sink.open();
                    }
                    throttled += 1;
                    assert!(readable(mux.space_fd(), Duration::from_secs(10)));
                    assert_eq!(mux.on_space(), [a]);
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
        let mut mux = LogMux::new(console(&sink), false);
        let (a, wa) = mux.open("t", Color::WHITE).unwrap();
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
        assert_eq!(mux.drain(a).unwrap(), Pumped::Closed);
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
        let mut mux = LogMux::new(console(&sink), false);
        let (a, wa) = mux.open("a", Color::WHITE).unwrap();
        let (b, wb) = mux.open("b", Color::WHITE).unwrap();
        for i in 0..1000 {
            write_all(&wa, format!("a{i}\n").as_bytes());
            if i % 100 == 0 {
                mux.pump(a).unwrap();
            }
        }
        write_all(&wb, b"only\n");
        mux.pump(a).unwrap();
        mux.pump(b).unwrap();
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
            assert_eq!(mux.pump(b).unwrap(), Pumped::Open);
        }
        drop(wb);
        while mux.pump(b).unwrap() != Pumped::Closed {}
        assert_eq!(mux.lines(b), 5);
        let kept = mux.recent(b, 10);
        assert!(kept.len() <= 2 && !kept.is_empty(), "{}", kept.len());
        assert!(kept.iter().all(|l| l.len() == RECENT_BYTES));
        // Kept after the stream closed, reset when its id is reused.
        let (c, wc) = mux.open("c", Color::WHITE).unwrap();
        assert_eq!(c, b);
        assert_eq!(mux.lines(c), 0);
        assert!(mux.recent(c, 1).is_empty());
        assert!(mux.recent(StreamId(99), 1).is_empty());
        drop((wa, wc));
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
