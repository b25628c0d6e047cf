//! Resource limits a child gets before exec ([`crate::Command::rlimits`]):
//! the resources by the names `prlimit(1)` and `setrlimit(2)` use, lowercased
//! and without `RLIMIT_`.
//!
//! `RLIMIT_RSS` and `RLIMIT_LOCKS` are left out: Linux accepts them and
//! enforces neither (setrlimit(2): RSS "has effect only in Linux 2.4.x",
//! LOCKS "only in early Linux 2.4"), and a limit that silently does nothing
//! is worse than none.

use std::ffi::c_int;

/// One resource `prlimit64` can limit and Linux enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// Address space, bytes.
    As,
    /// Core file size, bytes.
    Core,
    /// CPU time, seconds (SIGXCPU at the soft limit, SIGKILL at the hard one).
    Cpu,
    /// Data segment (heap, and since 4.7 private writable mappings), bytes.
    Data,
    /// Largest file the process may write, bytes (SIGXFSZ beyond it).
    Fsize,
    /// Locked memory, bytes.
    Memlock,
    /// POSIX message queue bytes of the real uid.
    Msgqueue,
    /// Ceiling of the nice value, as 20 - nice.
    Nice,
    /// Open file descriptors (one above the highest fd number).
    Nofile,
    /// Processes and threads of the real uid (checked at fork/clone).
    Nproc,
    /// Ceiling of the real-time priority.
    Rtprio,
    /// CPU time under a real-time policy without blocking, microseconds.
    Rttime,
    /// Queued signals of the real uid.
    Sigpending,
    /// Main thread's stack, bytes.
    Stack,
}

/// Every resource with its name and its step's verb phrase (a `&'static
/// str`, as the child reports a failed step), in the order `prlimit(1)`
/// lists them.
const ALL: [(Resource, &str, &str); 14] = [
    (Resource::As, "as", "set rlimit as (RLIMIT_AS)"),
    (Resource::Core, "core", "set rlimit core (RLIMIT_CORE)"),
    (Resource::Cpu, "cpu", "set rlimit cpu (RLIMIT_CPU)"),
    (Resource::Data, "data", "set rlimit data (RLIMIT_DATA)"),
    (Resource::Fsize, "fsize", "set rlimit fsize (RLIMIT_FSIZE)"),
    (
        Resource::Memlock,
        "memlock",
        "set rlimit memlock (RLIMIT_MEMLOCK)",
    ),
    (
        Resource::Msgqueue,
        "msgqueue",
        "set rlimit msgqueue (RLIMIT_MSGQUEUE)",
    ),
    (Resource::Nice, "nice", "set rlimit nice (RLIMIT_NICE)"),
    (
        Resource::Nofile,
        "nofile",
        "set rlimit nofile (RLIMIT_NOFILE)",
    ),
    (Resource::Nproc, "nproc", "set rlimit nproc (RLIMIT_NPROC)"),
    (
        Resource::Rtprio,
        "rtprio",
        "set rlimit rtprio (RLIMIT_RTPRIO)",
    ),
    (
        Resource::Rttime,
        "rttime",
        "set rlimit rttime (RLIMIT_RTTIME)",
    ),
    (
        Resource::Sigpending,
        "sigpending",
        "set rlimit sigpending (RLIMIT_SIGPENDING)",
    ),
    (Resource::Stack, "stack", "set rlimit stack (RLIMIT_STACK)"),
];

impl Resource {
    /// The resource called `name` (`"nofile"`), if Linux enforces it.
    pub fn from_name(name: &str) -> Option<Resource> {
        ALL.iter().find(|(_, n, _)| *n == name).map(|(r, ..)| *r)
    }

    /// Its name, as [`Resource::from_name`] takes it.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The child's step for it: "set rlimit nofile (RLIMIT_NOFILE)".
    pub(crate) fn step(self) -> &'static str {
        self.entry().2
    }

    fn entry(self) -> &'static (Resource, &'static str, &'static str) {
        // Every variant is in ALL (the test below checks it).
        ALL.iter().find(|(r, ..)| *r == self).unwrap_or(&ALL[0])
    }

    /// Every name, for error messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        ALL.iter().map(|(_, n, _)| *n)
    }

    /// Whether its value is a size in bytes (so `"64M"` makes sense).
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            Resource::As
                | Resource::Core
                | Resource::Data
                | Resource::Fsize
                | Resource::Memlock
                | Resource::Msgqueue
                | Resource::Stack
        )
    }

    /// The kernel's resource number.
    pub(crate) fn raw(self) -> c_int {
        (match self {
            Resource::As => libc::RLIMIT_AS,
            Resource::Core => libc::RLIMIT_CORE,
            Resource::Cpu => libc::RLIMIT_CPU,
            Resource::Data => libc::RLIMIT_DATA,
            Resource::Fsize => libc::RLIMIT_FSIZE,
            Resource::Memlock => libc::RLIMIT_MEMLOCK,
            Resource::Msgqueue => libc::RLIMIT_MSGQUEUE,
            Resource::Nice => libc::RLIMIT_NICE,
            Resource::Nofile => libc::RLIMIT_NOFILE,
            Resource::Nproc => libc::RLIMIT_NPROC,
            Resource::Rtprio => libc::RLIMIT_RTPRIO,
            Resource::Rttime => libc::RLIMIT_RTTIME,
            Resource::Sigpending => libc::RLIMIT_SIGPENDING,
            Resource::Stack => libc::RLIMIT_STACK,
        }) as c_int
    }
}

/// `u64::MAX`: no limit (the kernel's RLIM64_INFINITY).
pub const UNLIMITED: u64 = u64::MAX;

/// A soft and a hard limit for one resource (`soft <= hard`, or the kernel
/// refuses it with EINVAL and the start fails naming the resource).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unenforced_ones_are_unknown() {
        for name in Resource::names() {
            assert_eq!(Resource::from_name(name).unwrap().name(), name);
        }
        assert_eq!(Resource::from_name("rss"), None);
        assert_eq!(Resource::from_name("locks"), None);
        assert_eq!(Resource::from_name("NOFILE"), None);
        assert_eq!(Resource::Nofile.raw(), libc::RLIMIT_NOFILE as c_int);
        assert_eq!(Resource::Nproc.step(), "set rlimit nproc (RLIMIT_NPROC)");
    }
}
