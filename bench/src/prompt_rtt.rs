//! Round trips of ned's command protocol (docs/prompt.md), for
//! bench/prompt.sh: `prompt-rtt PATH N` sends `return 1` N times on one
//! connection to `ned --control PATH`, one request in flight, and prints
//! the median and 99th percentile in µs; `prompt-rtt --echo N` is the
//! baseline: the same frames over a SEQPACKET socket pair to a thread that
//! answers each with a reply frame, i.e. the transport and wake-ups alone.

use std::os::fd::OwnedFd;
use std::time::Instant;

use ned_core::control::{HEADER, REPLY, REQUEST, frame, reply_frame};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

fn recv_frame(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    let (n, _) = rustix::net::recv(fd, buf, RecvFlags::empty()).expect("recv");
    assert!(n >= HEADER, "short frame");
    n
}

fn measure(fd: &OwnedFd, n: usize) -> Vec<f64> {
    let mut req = Vec::new();
    frame(REQUEST, b"return 1", &mut req);
    let mut buf = vec![0u8; 4096];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        rustix::net::send(fd, &req, SendFlags::empty()).expect("send");
        let got = recv_frame(fd, &mut buf);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(
            buf[0] == REPLY && &buf[HEADER + 4..got] == b"1",
            "unexpected reply"
        );
    }
    times
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (target, n) = match args.as_slice() {
        [_, t, n] => (t.clone(), n.parse::<usize>().expect("N")),
        _ => {
            eprintln!("usage: prompt-rtt PATH|--echo N");
            std::process::exit(2);
        }
    };
    let times = if target == "--echo" {
        let (a, b) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socketpair");
        let echo = std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            let mut out = Vec::new();
            for _ in 0..n {
                recv_frame(&b, &mut buf);
                out.clear();
                reply_frame(0, b"1", &mut out);
                rustix::net::send(&b, &out, SendFlags::empty()).expect("send");
            }
        });
        let t = measure(&a, n);
        echo.join().expect("echo thread");
        t
    } else {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socket");
        rustix::net::connect(&fd, &SocketAddrUnix::new(target.as_str()).expect("path"))
            .expect("connect");
        measure(&fd, n)
    };
    let mut sorted = times;
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q) as usize];
    println!("{:.2} {:.2}", at(0.5), at(0.99));
}
