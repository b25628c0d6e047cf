//! The log multiplexer: every task's stdout and stderr arrive on one pipe per
//! task; ned prints each complete line as `<tag> | <line>`.
//!
//! Lines are assembled per stream, so output of different tasks never mixes
//! inside a line. All lines that one read produced go out in one `write`, which
//! keeps throughput high when many tasks log at once. A line longer than
//! [`MAX_LINE`] is cut there, so a task without newlines cannot make ned grow
//! without bound. Bytes are passed through untouched, UTF-8 or not.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Longest line kept before it is printed in pieces.
pub const MAX_LINE: usize = 64 * 1024;
const READ_CHUNK: usize = 64 * 1024;
/// Reads per [`LogMux::pump`] call: bounded, so one busy task cannot
/// starve the others.
const PUMP_ROUNDS: usize = 16;

/// Prints one diagnostic line on ned's stderr. Unlike `eprintln!`, which
/// panics when stderr is a broken pipe, a failing stderr is ignored: ned may
/// be PID 1 and must not die because nobody reads its complaints.
pub fn diag(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}

/// `eprintln!` that never panics; see [`diag`].
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::log::diag(format_args!($($arg)*))
    };
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

/// All log streams and the sink they are printed to.
pub struct LogMux {
    out: Box<dyn Write + Send>,
    colors: bool,
    width: usize,
    streams: Vec<Option<Stream>>,
    free: Vec<usize>,
    buf: Vec<u8>,
    pending: Vec<u8>,
}

impl LogMux {
    /// The most one [`LogMux::pump`] call reads from a stream.
    pub const ROUND_BYTES: usize = PUMP_ROUNDS * READ_CHUNK;

    /// Prints to `out`; `colors` only when the sink is a terminal and
    /// `NO_COLOR` is unset (the caller decides).
    pub fn new(out: Box<dyn Write + Send>, colors: bool) -> LogMux {
        LogMux {
            out,
            colors,
            width: 0,
            streams: Vec::new(),
            free: Vec::new(),
            buf: Vec::new(),
            pending: Vec::new(),
        }
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
                i
            }
            None => {
                self.streams.push(Some(stream));
                self.streams.len() - 1
            }
        };
        Ok((StreamId(idx), write))
    }

    /// The read end to watch for `id`.
    pub fn fd(&self, id: StreamId) -> Option<BorrowedFd<'_>> {
        self.streams.get(id.0)?.as_ref().map(|s| s.read.as_fd())
    }

    /// Reads what is available on `id` and prints its complete lines. Returns
    /// `false` once the stream reached end of file; it is then closed.
    pub fn pump(&mut self, id: StreamId) -> io::Result<bool> {
        if self.buf.len() < READ_CHUNK {
            self.buf.resize(READ_CHUNK, 0);
        }
        let mut open = true;
        // Bounded rounds keep one busy task from starving the others.
        for _ in 0..PUMP_ROUNDS {
            let Some(stream) = self.streams.get(id.0).and_then(Option::as_ref) else {
                return Ok(false);
            };
            match rustix::io::read(&stream.read, &mut self.buf[..]) {
                Ok(0) => {
                    open = false;
                    break;
                }
                Ok(n) => self.take(id, n),
                Err(rustix::io::Errno::AGAIN) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    self.flush_pending()?;
                    return Err(e.into());
                }
            }
        }
        if !open {
            self.close(id)?;
        }
        self.flush_pending()?;
        Ok(open)
    }

    /// Prints the unfinished last line of `id`, if any, and forgets the stream.
    pub fn close(&mut self, id: StreamId) -> io::Result<()> {
        if let Some(mut stream) = self.streams.get_mut(id.0).and_then(Option::take) {
            if !stream.partial.is_empty() {
                let line = std::mem::take(&mut stream.partial);
                self.render(&stream.tag, stream.color, &line);
            }
            self.free.push(id.0);
        }
        self.flush_pending()
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
                self.render(&stream.tag, stream.color, line);
            } else {
                stream.partial.extend_from_slice(line);
                let whole = std::mem::take(&mut stream.partial);
                self.render(&stream.tag, stream.color, &whole);
            }
            rest = &tail[1..];
        }
        stream.partial.extend_from_slice(rest);
        while stream.partial.len() >= MAX_LINE {
            let tail = stream.partial.split_off(MAX_LINE);
            let line = std::mem::replace(&mut stream.partial, tail);
            self.render(&stream.tag, stream.color, &line);
        }
        if stream.partial.capacity() > MAX_LINE * 2 {
            stream.partial.shrink_to(MAX_LINE);
        }
        self.buf = buf;
        self.streams[id.0] = Some(stream);
    }

    fn render(&mut self, tag: &str, color: Color, line: &[u8]) {
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

    fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let res = self
            .out
            .write_all(&self.pending)
            .and_then(|()| self.out.flush());
        self.pending.clear();
        if self.pending.capacity() > 4 * READ_CHUNK {
            self.pending.shrink_to(READ_CHUNK);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn write_all(fd: &OwnedFd, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            done += rustix::io::write(fd, &data[done..]).unwrap();
        }
    }

    #[test]
    fn lines_are_tagged_padded_and_partials_flushed_at_close() {
        let sink = Sink::default();
        let mut mux = LogMux::new(Box::new(sink.clone()), false);
        let (a, wa) = mux.open("server", Color::WHITE).unwrap();
        let (b, wb) = mux.open("c", Color::parse("green").unwrap()).unwrap();
        write_all(&wa, b"one\ntw");
        write_all(&wb, b"x\xff\n");
        mux.pump(a).unwrap();
        mux.pump(b).unwrap();
        write_all(&wa, b"o\nlast");
        drop(wa);
        assert!(!mux.pump(a).unwrap());
        let out = sink.0.lock().unwrap().clone();
        assert_eq!(
            out,
            b"server | one\nc      | x\xff\nserver | two\nserver | last\n".to_vec()
        );
        drop(wb);
    }

    #[test]
    fn overlong_lines_are_cut_and_colours_applied() {
        let sink = Sink::default();
        let mut mux = LogMux::new(Box::new(sink.clone()), true);
        let (a, wa) = mux.open("t", Color::parse("B").unwrap()).unwrap();
        // The pipe holds less than a long line: feed it in pieces.
        for _ in 0..(MAX_LINE + 10) / 1000 {
            write_all(&wa, &[b'x'; 1000]);
            mux.pump(a).unwrap();
        }
        write_all(&wa, &[b'x'; (MAX_LINE + 10) % 1000]);
        drop(wa);
        while mux.pump(a).unwrap() {}
        let out = sink.0.lock().unwrap().clone();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("\x1b[1;94mt\x1b[0m | xxx"));
        assert_eq!(lines[1], "\x1b[1;94mt\x1b[0m | xxxxxxxxxx");
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
