//! The client side of ned's command protocol, shared by the binaries of
//! this crate: `ned-prompt` (the prompt) and `lunatik` (Lunatik's command,
//! driving `lunatik.runner` in a running ned).

pub mod wire;
