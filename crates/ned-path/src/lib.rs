//! Names looked up inside a directory ned hands out, and Lua script sources.
//!
//! ned's directory caps (the `rom`, a directory a task is given, the Lunatik
//! script root) promise that a name looked up in them stays inside them. A
//! string check on the name cannot keep that promise: a symlink inside the
//! directory may point anywhere. [`Beneath`] therefore lets the kernel walk
//! the name with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, which
//! refuses `..` above the directory, absolute names, absolute symlinks and
//! relative symlinks that climb out, and still follows symlinks that stay
//! inside. It is the one place ned resolves a name in a directory.
//!
//! [`script`] is the one place a Lua source file becomes chunk text (byte-order
//! mark and `#` first line skipped, as `lua5.4` does).
//!
//! This crate knows nothing of Lua or of caps; it only opens files.

pub mod script;

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Why a name could not be opened inside a directory. Every message names
/// the directory and the name, so a script author sees what was refused.
#[derive(Debug, thiserror::Error)]
pub enum BeneathError {
    /// `..` above the directory, an absolute name, or a symlink (absolute,
    /// or relative and climbing out) that leaves it.
    #[error("'{name}' escapes the {what} {}", dir.display())]
    Escapes {
        name: String,
        what: String,
        dir: PathBuf,
    },
    /// Nothing by that name (or a component on the way is not a directory).
    #[error("no file '{name}' in {}", dir.display())]
    NotFound { name: String, dir: PathBuf },
    /// The kernel has no `openat2` (before Linux 5.6, or filtered by a
    /// seccomp policy answering ENOSYS). ned refuses rather than open the
    /// name unchecked.
    #[error(
        "cannot look up '{name}' in {} safely: the kernel lacks openat2 (Linux 5.6 or later is needed)",
        dir.display()
    )]
    NoOpenat2 { name: String, dir: PathBuf },
    /// Any other failure to open the name (permissions, a symlink loop, a
    /// magic link, a NUL byte in the name, ...).
    #[error("failed to open '{name}' in {}", dir.display())]
    Open {
        name: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The name was opened but could not be read.
    #[error("failed to read '{name}' in {}", dir.display())]
    Read {
        name: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The directory itself could not be opened.
    #[error("failed to open the {what} {}", dir.display())]
    OpenDir {
        what: String,
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// How often a lookup is retried when the kernel answers EAGAIN: with
/// RESOLVE_BENEATH, a rename elsewhere on the system during a walk through
/// `..` makes openat2 give up rather than risk an escape (openat2(2)).
const EAGAIN_RETRIES: usize = 8;

/// A directory to look names up in: its descriptor (any, `O_PATH` is
/// enough), the path it was opened from (for messages and for callers that
/// must hand a path on, such as `execve`) and what it is to the user
/// ("rom directory", "Lua root").
#[derive(Clone, Copy, Debug)]
pub struct Beneath<'a> {
    fd: BorrowedFd<'a>,
    path: &'a Path,
    what: &'a str,
}

impl<'a> Beneath<'a> {
    pub fn new(fd: BorrowedFd<'a>, path: &'a Path, what: &'a str) -> Beneath<'a> {
        Beneath { fd, path, what }
    }

    /// The path the directory was opened from.
    pub fn path(&self) -> &'a Path {
        self.path
    }

    /// Opens `name` inside the directory with `flags` (`O_CLOEXEC` is always
    /// added). `name` is relative to the directory; an absolute one escapes.
    pub fn open(&self, name: &str, flags: OFlags) -> Result<OwnedFd, BeneathError> {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        let mut tries = 0;
        let err = loop {
            match rustix::fs::openat2(
                self.fd,
                name,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                resolve,
            ) {
                Ok(fd) => return Ok(fd),
                Err(Errno::AGAIN) if tries < EAGAIN_RETRIES => tries += 1,
                Err(e) => break e,
            }
        };
        let name = name.to_owned();
        let dir = self.path.to_path_buf();
        Err(match err {
            Errno::XDEV => BeneathError::Escapes {
                name,
                what: self.what.to_owned(),
                dir,
            },
            Errno::NOENT | Errno::NOTDIR => BeneathError::NotFound { name, dir },
            Errno::NOSYS => BeneathError::NoOpenat2 { name, dir },
            e => BeneathError::Open {
                name,
                dir,
                source: e.into(),
            },
        })
    }

    /// The whole content of the file `name` inside the directory.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, BeneathError> {
        let fd = self.open(name, OFlags::RDONLY)?;
        let mut buf = Vec::new();
        std::fs::File::from(fd)
            .read_to_end(&mut buf)
            .map_err(|source| BeneathError::Read {
                name: name.to_owned(),
                dir: self.path.to_path_buf(),
                source,
            })?;
        Ok(buf)
    }

    /// The Lua source `name` inside the directory, ready to load (see
    /// [`script::strip_header`]).
    pub fn read_script(&self, name: &str) -> Result<Vec<u8>, BeneathError> {
        let mut src = self.read(name)?;
        script::strip_header(&mut src);
        Ok(src)
    }
}

/// A directory opened by path (`O_PATH`), for callers that have no
/// descriptor of their own.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    what: String,
}

impl Dir {
    /// Opens `path` (following symlinks: the directory itself is trusted).
    pub fn open(path: &Path, what: &str) -> Result<Dir, BeneathError> {
        let fd = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| BeneathError::OpenDir {
            what: what.to_owned(),
            dir: path.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
            what: what.to_owned(),
        })
    }

    pub fn beneath(&self) -> Beneath<'_> {
        Beneath::new(self.fd.as_fd(), &self.path, &self.what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fresh directory tree, removed on drop:
    /// `top/rom/{file, sub/inner}`, `top/outside/secret`.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Tree {
            let top = std::env::temp_dir().join(format!("ned-path-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&top);
            std::fs::create_dir_all(top.join("rom/sub")).unwrap();
            std::fs::create_dir_all(top.join("outside")).unwrap();
            std::fs::write(top.join("rom/file"), "in rom\n").unwrap();
            std::fs::write(top.join("rom/sub/inner"), "deeper\n").unwrap();
            std::fs::write(top.join("outside/secret"), "outside\n").unwrap();
            Tree(top)
        }
        fn rom(&self) -> PathBuf {
            self.0.join("rom")
        }
        fn dir(&self) -> Dir {
            Dir::open(&self.rom(), "rom directory").unwrap()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn escapes(r: Result<Vec<u8>, BeneathError>, dir: &Path, name: &str) {
        match r {
            Err(e @ BeneathError::Escapes { .. }) => assert_eq!(
                e.to_string(),
                format!("'{name}' escapes the rom directory {}", dir.display())
            ),
            other => panic!("{name}: expected an escape, got {other:?}"),
        }
    }

    #[test]
    fn plain_names_and_inside_symlinks_resolve() {
        let t = Tree::new("inside");
        symlink("file", t.rom().join("rel")).unwrap();
        symlink("sub/../file", t.rom().join("winding")).unwrap();
        symlink("sub", t.rom().join("subdir")).unwrap();
        symlink("../file", t.rom().join("sub/up")).unwrap();
        let d = t.dir();
        let b = d.beneath();
        for name in ["file", "./file", "sub/../file", "rel", "winding", "sub/up"] {
            assert_eq!(b.read(name).unwrap(), b"in rom\n", "{name}");
        }
        assert_eq!(b.read("subdir/inner").unwrap(), b"deeper\n");
    }

    #[test]
    fn every_way_out_is_refused_and_named() {
        let t = Tree::new("escape");
        let rom = t.rom();
        symlink("/bin/echo", rom.join("abs")).unwrap();
        symlink(rom.join("file"), rom.join("abs_inside")).unwrap();
        symlink("../../../../../../../../etc/passwd", rom.join("climb")).unwrap();
        symlink("../outside", rom.join("outdir")).unwrap();
        symlink("../../outside/secret", rom.join("sub/deep")).unwrap();
        let d = t.dir();
        let b = d.beneath();
        for name in [
            "../outside/secret",
            "sub/../../outside/secret",
            "/etc/passwd",
            "abs",
            // Absolute symlinks are refused even when they point back inside:
            // the kernel cannot tell, and a relative link does the same job.
            "abs_inside",
            "climb",
            "outdir/secret",
            "sub/deep",
        ] {
            escapes(b.read(name), &rom, name);
        }
    }

    #[test]
    fn missing_names_say_so() {
        let t = Tree::new("missing");
        let d = t.dir();
        let err = d.beneath().read("nope").unwrap_err();
        assert!(matches!(err, BeneathError::NotFound { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("no file 'nope' in {}", t.rom().display())
        );
        let err = d.beneath().read("file/below").unwrap_err();
        assert!(matches!(err, BeneathError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn magic_links_are_not_followed() {
        // /proc/self/cwd is a magic link: following it would reach any
        // directory at all, whatever the walk so far.
        let d = Dir::open(Path::new("/proc/self"), "directory").unwrap();
        let err = d.beneath().open("cwd", OFlags::PATH).unwrap_err();
        assert!(
            matches!(&err, BeneathError::Open { source, .. }
                if source.raw_os_error() == Some(Errno::LOOP.raw_os_error())),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let err = Dir::open(Path::new("/nonexistent/rom"), "rom directory").unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to open the rom directory /nonexistent/rom"
        );
    }

    #[test]
    fn read_script_strips_the_header() {
        let t = Tree::new("script");
        std::fs::write(
            t.rom().join("s.lua"),
            b"\xEF\xBB\xBF#!/usr/bin/ned\nreturn 1\n",
        )
        .unwrap();
        assert_eq!(
            t.dir().beneath().read_script("s.lua").unwrap(),
            b"\nreturn 1\n"
        );
    }
}
