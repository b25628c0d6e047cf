//! ned's integration tests: the real `ned` binary runs real scripts that
//! start `ned-probe` (and a few other programs) as tasks; the assertions
//! read ned's exit status, its stderr and the probe's JSON reports in the
//! task logs. Conformance scripts written in Lua live in tests/lua at the
//! repository root and are run by `lua_scripts`.
//!
//! One module per area of spec/issue: cli (§2), lua_scripts (§3-§7, the
//! §12 task table, the table-driven bad-input test and malformed start
//! tables, all asserted in Lua), start (§9, §10), channels (reachable only
//! through their caps), sockets (channels and a real socket-activation
//! consumer), sockets_inet (TCP, UDP and Unix socket
//! caps served by Python, inherited by an inner ned), tasks (§12 from
//! outside), exits (exit options and signals), teardown (held tasks at
//! close, os.exit, stray signals, shutdown refusal, wedges), logs (§14),
//! rom (names kept inside directory caps, script headers), examples,
//! diagnostics (messages, warnings and the Lua memory limit), prompt (the
//! remote command interface, §13, and its bad input), cgroups (memory,
//! pids and resource limits of a task, issue 13).

mod util;

mod cgroups;
mod channels;
mod cli;
mod container;
mod diagnostics;
mod examples;
mod exits;
mod faults;
mod hooks;
mod leaks;
mod logs;
mod logs_files;
mod lua_scripts;
mod lunatik_cmd;
mod nested;
mod notify;
mod objects;
mod pid1;
mod prompt;
mod python_client;
mod rights;
mod rom;
mod sandbox;
mod sockets;
mod sockets_inet;
mod start;
mod supervise;
mod tasks;
mod teardown;
mod timeline;
mod trees;
mod view;
