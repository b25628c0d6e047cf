//! ned's integration tests: the real `ned` binary runs real scripts that
//! start `ned-probe` (and a few other programs) as tasks; the assertions
//! read ned's exit status, its stderr and the probe's JSON reports in the
//! task logs. Conformance scripts written in Lua live in tests/lua at the
//! repository root and are run by `lua_scripts`.
//!
//! One module per area of spec/issue: cli (§2), lua_scripts (§3-§7, the
//! §12 task table, the table-driven bad-input test and malformed start
//! tables, all asserted in Lua), start (§9, §10), sockets (channels and a
//! real socket-activation consumer), tasks (§12 from outside), exits (exit
//! options and signals), logs (§14), examples, diagnostics (messages,
//! warnings and the Lua memory limit).

mod util;

mod cli;
mod diagnostics;
mod examples;
mod exits;
mod logs;
mod lua_scripts;
mod nested;
mod sockets;
mod start;
mod tasks;
