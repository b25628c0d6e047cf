//! `dataspace-baseline N`: the baseline of bench/dataspaces.sh — N
//! `memfd_create` + `ftruncate(4096)` in a plain loop, every fd kept open
//! to the end as ned keeps the script's dataspaces, with the flags ned
//! uses. Prints `dataspaces=N` and exits 0, or names the failed call.

use std::ffi::CStr;
use std::process::ExitCode;

fn main() -> ExitCode {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("usage: dataspace-baseline N");
            return ExitCode::from(2);
        }
    };
    let name: &CStr = c"ned-dataspace";
    let mut fds = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: `name` is a NUL-terminated string that outlives the call;
        // the flags are valid memfd flags.
        let fd = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if fd < 0 {
            eprintln!("memfd_create: {}", std::io::Error::last_os_error());
            return ExitCode::FAILURE;
        }
        // SAFETY: `fd` is the memfd just created and owned by this loop.
        if unsafe { libc::ftruncate(fd, 4096) } != 0 {
            eprintln!("ftruncate: {}", std::io::Error::last_os_error());
            return ExitCode::FAILURE;
        }
        fds.push(fd);
    }
    println!("dataspaces={}", fds.len());
    ExitCode::SUCCESS
}
