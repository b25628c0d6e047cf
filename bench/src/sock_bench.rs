//! Socket benchmark helper for bench/lunatik.sh, three modes:
//!
//! - `sock-bench kv-get N`: a task of examples/shared.lua's store (its
//!   `store` cap is fd 3 + its index in LISTEN_FDNAMES): sets one key, then
//!   sends N GETs one after another and prints `gets/s: R`.
//! - `sock-bench echo-client PATH N`: connects to a Unix stream socket,
//!   sends N 16-byte messages one at a time, waits for each echo, and
//!   prints `median_rtt_ns: T`.
//! - `sock-bench echo-server PATH`: the plain Rust baseline for the client:
//!   echoes one connection on PATH until it closes.

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |i: usize| -> usize { args.get(i).and_then(|s| s.parse().ok()).expect("count") };
    match args.get(1).map(String::as_str) {
        Some("kv-get") => kv_get(num(2)),
        Some("echo-client") => echo_client(&args[2], num(3)),
        Some("echo-server") => echo_server(&args[2]),
        _ => {
            eprintln!("usage: sock-bench kv-get N | echo-client PATH N | echo-server PATH");
            std::process::exit(2);
        }
    }
}

fn store_fd() -> i32 {
    let names = std::env::var("LISTEN_FDNAMES").expect("LISTEN_FDNAMES");
    let i = names
        .split(':')
        .position(|n| n == "store")
        .expect("a store cap");
    3 + i as i32
}

fn kv_get(n: usize) {
    // SAFETY: ned granted this fd to the task (LISTEN_FDS); nothing else in
    // this process owns it.
    let conn = unsafe { std::os::unix::net::UnixDatagram::from_raw_fd(store_fd()) };
    let mut buf = [0u8; 1024];
    conn.send(b"bench=value\n").expect("set");
    conn.recv(&mut buf).expect("set reply");
    let start = Instant::now();
    for _ in 0..n {
        conn.send(b"bench\n").expect("get");
        let len = conn.recv(&mut buf).expect("get reply");
        assert_eq!(&buf[..len], b"value\n", "wrong answer");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    println!("gets/s: {rate:.0}");
}

fn echo_client(path: &str, n: usize) {
    let mut s = UnixStream::connect(path).expect("connect");
    let msg = [b'x'; 16];
    let mut buf = [0u8; 16];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        s.write_all(&msg).expect("send");
        s.read_exact(&mut buf).expect("receive");
        times.push(t.elapsed().as_nanos());
    }
    times.sort_unstable();
    println!("median_rtt_ns: {}", times[n / 2]);
}

fn echo_server(path: &str) {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).expect("bind");
    let (mut c, _) = l.accept().expect("accept");
    let mut buf = [0u8; 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => {
                if c.write_all(&buf[..k]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_file(path);
}
