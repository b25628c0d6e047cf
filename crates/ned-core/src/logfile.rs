//! A task's log file with size-based rotation, written by its own
//! [`Console`](crate::console::Console) thread, so a slow or stuck disk
//! never blocks ned's loop (the task waits on its full pipe instead).
//!
//! Rotation happens only between lines: a write that would take the file
//! past `max_size` is cut after its last whole line that fits, the file is
//! renamed to `NAME.1` (`NAME.1` to `NAME.2`, ..., the oldest beyond `keep`
//! removed) and a new `NAME` is opened; the old descriptor is closed at
//! once, so no rotated-away or deleted file stays open. A line longer than
//! `max_size` goes whole into a fresh file. When `NAME` was deleted or
//! renamed by someone else, the next write notices (its link count is 0, or
//! the path names another file) and opens `NAME` anew, so nothing more is
//! written into a file nobody can see.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where and how a task's log file is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub path: PathBuf,
    /// Rotate before the file would grow past this many bytes; 0: never.
    pub max_size: u64,
    /// Rotated files kept (`NAME.1` .. `NAME.keep`).
    pub keep: u32,
}

/// An open, rotating log file.
pub struct RotatingFile {
    spec: FileSpec,
    file: File,
    size: u64,
    /// The last byte written was not a line end: never rotate now.
    mid_line: bool,
}

impl RotatingFile {
    /// Opens (creating, appending to) `spec.path`.
    pub fn open(spec: FileSpec) -> io::Result<RotatingFile> {
        let file = open_append(&spec.path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            spec,
            file,
            size,
            mid_line: false,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let p = &self.spec.path;
        if self.spec.keep == 0 {
            std::fs::remove_file(p)?;
        } else {
            for i in (1..self.spec.keep).rev() {
                match std::fs::rename(numbered(p, i), numbered(p, i + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(p, numbered(p, 1))?;
        }
        self.reopen()
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.file = open_append(&self.spec.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }

    /// Opens the path anew when the open file is no longer what it names.
    fn follow_path(&mut self) -> io::Result<()> {
        let open = self.file.metadata()?;
        let named = std::fs::metadata(&self.spec.path);
        let same = named.is_ok_and(|m| m.ino() == open.ino() && m.dev() == open.dev());
        if open.nlink() == 0 || !same {
            self.reopen()?;
        }
        Ok(())
    }
}

fn open_append(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(p)
}

/// `NAME.i`.
pub fn numbered(p: &Path, i: u32) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.mid_line {
            self.follow_path()?;
        }
        let max = self.spec.max_size;
        let mut take = buf.len();
        if self.mid_line {
            // Finish the line begun before anything else.
            take = buf
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |p| p + 1);
        } else if max > 0 && self.size + buf.len() as u64 > max {
            let room = max.saturating_sub(self.size) as usize;
            match buf[..room.min(buf.len())].iter().rposition(|&b| b == b'\n') {
                Some(p) => take = p + 1,
                None => {
                    if self.size > 0 {
                        self.rotate()?;
                    }
                    if buf.len() as u64 > max {
                        take = buf
                            .iter()
                            .position(|&b| b == b'\n')
                            .map_or(buf.len(), |p| p + 1);
                    }
                }
            }
        }
        let n = self.file.write(&buf[..take])?;
        self.size += n as u64;
        if n > 0 {
            self.mid_line = buf[n - 1] != b'\n';
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ned-logfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        d
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_default()
    }

    #[test]
    fn rotates_between_lines_and_keeps_only_keep_files() {
        let d = dir("rotate");
        let path = d.join("t.log");
        let mut f = RotatingFile::open(FileSpec {
            path: path.clone(),
            max_size: 100,
            keep: 2,
        })
        .unwrap();
        let all: String = (0..100).map(|i| format!("line {i:04}\n")).collect();
        for chunk in all.as_bytes().chunks(37 * 10 / 7) {
            f.write_all(chunk).unwrap();
        }
        let (a, b, c) = (
            read(&numbered(&path, 2)),
            read(&numbered(&path, 1)),
            read(&path),
        );
        assert!(!numbered(&path, 3).exists());
        for part in [&a, &b, &c] {
            assert!(part.len() <= 100 && part.ends_with('\n'), "{part:?}");
        }
        assert!(
            all.ends_with(&format!("{a}{b}{c}")),
            "the newest lines, whole, in order"
        );
        // A line longer than the limit goes whole into a fresh file.
        let long = format!("{}\n", "x".repeat(250));
        f.write_all(long.as_bytes()).unwrap();
        assert_eq!(read(&path), long);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_deleted_file_is_opened_anew() {
        let d = dir("deleted");
        let path = d.join("t.log");
        let mut f = RotatingFile::open(FileSpec {
            path: path.clone(),
            max_size: 0,
            keep: 0,
        })
        .unwrap();
        f.write_all(b"one\n").unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_all(b"two\n").unwrap();
        assert_eq!(read(&path), "two\n");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
