//! `ned-fb-demo`: a small driver task, the way upstream configs use a
//! framebuffer driver. It serves the channel it was granted as `svr` (with
//! `c`, through `L4.Env`-style caps, `LISTEN_FDNAMES`), and answers
//! `create(L4.Proto.Goos, "g=WxH")` with a dataspace of W×H×4 bytes — the
//! session's frame buffer — and a log line naming the client (and, when
//! ned labelled the connection, the cap name and rights it was granted). Any other
//! protocol is `ENOSYS`, a bad mode `EINVAL`.

use std::os::fd::OwnedFd;

use ned_client::{Caps, Driver, Made, Peer, Value, kind_code, status};

/// Upstream's `L4.Proto.Goos`.
const GOOS: i64 = 0x4003;

struct Fb;

impl Driver for Fb {
    fn kind(&self) -> &str {
        "Goos"
    }

    fn create(
        &mut self,
        peer: &Peer,
        proto: i64,
        args: &[Value],
        _fds: Vec<OwnedFd>,
    ) -> Result<Made, (i32, String)> {
        if proto != GOOS {
            return Err((status::ENOSYS, format!("fb: protocol {proto} not served")));
        }
        let mode = match args.first() {
            Some(Value::Str(s)) => String::from_utf8_lossy(s).into_owned(),
            _ => "g=640x480".to_owned(),
        };
        let (w, h) = mode
            .strip_prefix("g=")
            .and_then(|g| g.split_once('x'))
            .and_then(|(w, h)| Some((w.parse::<u64>().ok()?, h.parse::<u64>().ok()?)))
            .filter(|(w, h)| (1..=8192).contains(w) && (1..=8192).contains(h))
            .ok_or_else(|| (status::EINVAL, format!("fb: bad mode '{mode}'")))?;
        let fd = rustix::fs::memfd_create("fb", rustix::fs::MemfdFlags::CLOEXEC)
            .and_then(|fd| rustix::fs::ftruncate(&fd, w * h * 4).map(|()| fd))
            .map_err(|e| (-e.raw_os_error(), format!("fb: {e}")))?;
        println!("fb: session {w}x{h} for client {}", peer.id);
        if let Some((rights, name)) = &peer.label {
            println!(
                "fb: client {} holds cap '{name}' with rights {rights:#x}",
                peer.id
            );
        }
        Ok(Made {
            fd,
            kind: kind_code("Dataspace").unwrap_or(0),
            rights: 7,
        })
    }
}

fn main() {
    let mut caps = match Caps::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fb: {e}");
            std::process::exit(2);
        }
    };
    let Some(svr) = caps.take("svr") else {
        eprintln!("fb: no cap named 'svr' (got {:?})", caps.names());
        std::process::exit(2);
    };
    println!("fb: serving");
    if let Err(e) = ned_client::serve(svr, &mut Fb) {
        eprintln!("fb: {e}");
        std::process::exit(1);
    }
}
