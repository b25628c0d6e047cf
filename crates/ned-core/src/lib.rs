//! The Lua-free core of ned: capabilities and the kernel objects behind them
//! (sockets among them), the supervisor that starts and reaps tasks, the log
//! multiplexer and the console writers that keep ned's own output from ever
//! blocking it.
//!
//! Nothing here knows about Lua. The bindings in `lua-l4` translate script
//! values into the types of this crate, so the same core can later serve the
//! object protocol, the remote prompt and the Lunatik runtimes.

pub mod cap;
pub mod cgroup;
pub mod channel;
pub mod console;
pub mod control;
pub mod log;
pub mod logfile;
pub mod logfmt;
pub mod loghook;
pub mod notify;
pub mod object;
pub mod reactor;
pub mod rights;
pub mod sandbox;
pub mod shutdown;
pub mod socket;
pub mod supervisor;
pub mod task;
pub mod timeline;
pub mod timer;
pub mod tree;

pub use cap::{Cap, Kind, Object};
pub use rights::Rights;
