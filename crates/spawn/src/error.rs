//! The crate's one error type.
//!
//! Every variant is named after the operation that failed and reads
//! `"failed to <verb> <object>"` with the OS error in `#[source]`, except
//! [`SpawnError::Exec`]: its message is the whole story ("/x/y: No such file or
//! directory (os error 2)") because ned prints it after `could not create
//! process: `. To keep chain printers from showing
//! the cause twice, that variant has no `source()`; use
//! [`SpawnError::os_error`] to get at the errno of any variant.

use std::io;

/// Everything that can go wrong while starting, waiting for or signalling a
/// process, or while setting up signal handling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The child stack could not be mapped (at a Spawner's first spawn).
    #[error("failed to map the child stack")]
    MapStack {
        #[source]
        source: io::Error,
    },
    /// A CPU index was beyond what `sched_setaffinity` can express.
    #[error("failed to build the cpu set for {path}: cpu {cpu} is not below {limit}")]
    CpuOutOfRange {
        path: String,
        cpu: usize,
        limit: usize,
    },
    /// `clone` itself failed (EAGAIN: process limit, ENOMEM, ...).
    #[error("failed to clone a process for {path}")]
    Clone {
        path: String,
        #[source]
        source: io::Error,
    },
    /// `clone` with new namespaces failed (EPERM: a namespace other than
    /// the user namespace without root; ENOSPC: namespace limit reached).
    #[error("failed to create the namespaces for {path}")]
    Namespaces {
        path: String,
        #[source]
        source: io::Error,
    },
    /// A step between clone and exec failed in the child (fd plan, affinity,
    /// nice, fd limit). `step` is a verb phrase such as "install fds" or
    /// "set the CPU affinity".
    #[error("failed to {step} for {path}")]
    ChildSetup {
        step: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    /// `execve` failed in the child. Display: `<path>: <os error>`.
    #[error("{path}: {error}")]
    Exec { path: String, error: io::Error },
    /// `waitid(P_PIDFD)` failed (ECHILD: already reaped, or not our child).
    #[error("failed to wait for process")]
    Wait {
        #[source]
        source: io::Error,
    },
    /// `pidfd_send_signal` failed for a reason other than the process being
    /// gone (EINVAL for a bad signal number, EPERM, ...).
    #[error("failed to send signal {sig}")]
    Signal {
        sig: i32,
        #[source]
        source: io::Error,
    },
    /// `pidfd_send_signal` got ESRCH: the process has exited *and been
    /// reaped*. A zombie (exited, not yet reaped) still accepts signals.
    /// Callers implementing "kill if still running" usually treat this as
    /// success.
    #[error("failed to send signal {sig}: the process has already been reaped")]
    SignalGone { sig: i32 },
    /// Blocking the signals for a [`crate::SignalFd`] failed.
    #[error("failed to block signals")]
    BlockSignals {
        #[source]
        source: io::Error,
    },
    /// `signalfd` failed.
    #[error("failed to create signalfd")]
    CreateSignalFd {
        #[source]
        source: io::Error,
    },
    /// Reading the signalfd failed (other than EAGAIN).
    #[error("failed to read signalfd")]
    ReadSignalFd {
        #[source]
        source: io::Error,
    },
    /// `prctl(PR_SET_CHILD_SUBREAPER)` failed.
    #[error("failed to become child subreaper")]
    SetSubreaper {
        #[source]
        source: io::Error,
    },
}

impl SpawnError {
    /// The OS error behind this error, if there is one (for all variants but
    /// `CpuOutOfRange` and `SignalGone`, whose cause is not an errno).
    pub fn os_error(&self) -> Option<&io::Error> {
        match self {
            Self::MapStack { source }
            | Self::Clone { source, .. }
            | Self::Namespaces { source, .. }
            | Self::ChildSetup { source, .. }
            | Self::Wait { source }
            | Self::Signal { source, .. }
            | Self::BlockSignals { source }
            | Self::CreateSignalFd { source }
            | Self::ReadSignalFd { source }
            | Self::SetSubreaper { source } => Some(source),
            Self::Exec { error, .. } => Some(error),
            Self::CpuOutOfRange { .. } | Self::SignalGone { .. } => None,
        }
    }
}
