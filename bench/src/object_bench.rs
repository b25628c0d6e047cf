//! `object-bench`: the object-service benchmarks, run as a task of ned by
//! bench/objects.sh, each with its baseline timed in the same process.
//!
//! - `object-bench query N`: N `query` round trips on the granted namespace
//!   `ns` (entry `x`, a dataspace: every reply carries a new fd), against N
//!   round trips of the same request and reply sizes, fd included, to an
//!   echo thread over a plain SEQPACKET socketpair.
//! - `object-bench drive N`: serves the granted channel `svr` as a driver
//!   and answers N `create` requests with a memfd; the time between two
//!   requests is one whole forwarded create (the script's loop → ned →
//!   driver → ned → script). The baseline: N round trips of the same
//!   request and reply, fd included, to an echo thread.
//!
//! Prints `RESULT <name> <median µs> <baseline median µs>`.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use ned_client::{Caps, Driver, Made, Object, Peer, Value, op};
use rustix::net::{AddressFamily, SocketFlags, SocketType};

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn seqpacket_pair() -> (OwnedFd, OwnedFd) {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair")
}

/// Answers every message on `sock` with `reply` and a fresh memfd, until
/// the peer closes.
fn echo(sock: OwnedFd, reply: Vec<u8>) {
    while let Ok(Some(_)) = ned_client::recv(&sock) {
        let fd = rustix::fs::memfd_create("b", rustix::fs::MemfdFlags::CLOEXEC).expect("memfd");
        if ned_client::send(&sock, &reply, &[fd.as_fd()]).is_err() {
            return;
        }
    }
}

fn cap_reply(op: u16) -> Vec<u8> {
    ned_client::encode(
        op | 0x8000,
        1,
        0,
        &[Value::Cap {
            fd: 0,
            kind: 4,
            rights: 4,
        }],
    )
}

/// The median µs of `n` round trips of `request` to an echo thread that
/// answers with a cap reply of `op` and a fresh memfd.
fn round_trips(n: usize, request: &[u8], op: u16) -> f64 {
    let (a, b) = seqpacket_pair();
    let server = std::thread::spawn(move || echo(b, cap_reply(op)));
    let mut base = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        ned_client::send(&a, request, &[]).expect("send");
        let rec = ned_client::recv(&a).expect("recv").expect("reply");
        ned_client::decode(&rec.bytes).expect("decode");
        base.push(t.elapsed());
    }
    drop(a);
    let _ = server.join();
    median(base)
}

fn query(n: usize) {
    let mut caps = Caps::from_env().expect("caps");
    let mut ns = Object::new(caps.take("ns").expect("cap 'ns'"));
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let got = ns.query("x", None, Some(0)).expect("query");
        times.push(t.elapsed());
        drop(got);
    }
    let request = ned_client::encode(
        op::QUERY,
        1,
        0,
        &[Value::Str(b"x".to_vec()), Value::Nil, Value::Int(0)],
    );
    let base = round_trips(n, &request, op::QUERY);
    println!("RESULT query {:.2} {base:.2}", median(times));
}

struct Timed {
    last: Option<Instant>,
    gaps: Vec<Duration>,
    n: usize,
}

impl Driver for Timed {
    fn create(
        &mut self,
        _: &Peer,
        _: i64,
        _: &[Value],
        _: Vec<OwnedFd>,
    ) -> Result<Made, (i32, String)> {
        let now = Instant::now();
        if let Some(l) = self.last.replace(now) {
            self.gaps.push(now - l);
        }
        if self.gaps.len() + 1 == self.n {
            drive_baseline(self.n, median(std::mem::take(&mut self.gaps)));
        }
        let fd = rustix::fs::memfd_create("b", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| (-e.raw_os_error(), e.to_string()))?;
        Ok(Made {
            fd,
            kind: 4,
            rights: 7,
        })
    }
}

/// The baseline of `drive` (run once the driver has seen all N requests),
/// then the result line.
fn drive_baseline(n: usize, ned_us: f64) {
    let request = ned_client::encode(
        op::CREATE,
        1,
        0,
        &[Value::Int(0x4003), Value::Str(b"g=1x1".to_vec())],
    );
    println!(
        "RESULT create {ned_us:.2} {:.2}",
        round_trips(n, &request, op::CREATE)
    );
}

fn drive(n: usize) {
    let mut caps = Caps::from_env().expect("caps");
    let svr = caps.take("svr").expect("cap 'svr'");
    let mut d = Timed {
        last: None,
        gaps: Vec::with_capacity(n),
        n,
    };
    let _ = ned_client::serve(svr, &mut d);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    match args.get(1).map(String::as_str) {
        Some("query") => query(n),
        Some("drive") => drive(n),
        _ => {
            eprintln!("usage: object-bench query|drive N");
            std::process::exit(2);
        }
    }
}
