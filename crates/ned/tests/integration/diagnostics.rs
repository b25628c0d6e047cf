//! What ned tells the user when something is wrong (issue 7): bad option
//! values are usage errors, a program that cannot be run says which file or
//! directory was looked at, unknown start-table keys are warned about once
//! per call site, and a main Lua state that runs out of memory is a Lua
//! error after which ned stops its tasks and exits 1 — never an abort.
//! (Errors raised at the script's own line: tests/lua/error_sites.lua.)

use std::process::Command;
use std::time::Duration;

use crate::util::{Sandbox, ned_bin, path_str, pid_alive, run, wait_for};

#[test]
fn rom_and_lua_root_must_be_directories() {
    let sb = Sandbox::new();
    let s = sb.file("s.lua", "print('ran')\n");
    let file = sb.file("plain", "x");
    for (option, value, why) in [
        ("--rom", "/nonexistent", "No such file or directory"),
        ("--rom", path_str(&file), "not a directory"),
        ("--lua-root", "/nonexistent", "No such file or directory"),
        ("--lua-root", path_str(&file), "not a directory"),
    ] {
        let out = sb.ned(&["--exit", option, value, path_str(&s)]);
        out.status(2)
            .stderr_has("Usage: ned")
            .stderr_has(&format!("invalid value '{value}' for '{option} <DIR>'"))
            .stderr_has(why);
        assert!(!out.stdout.contains("ran"), "the script ran:\n{out}");
    }
}

#[test]
fn lua_memory_must_be_a_size() {
    let sb = Sandbox::new();
    for value in ["lots", "0", "1.5G", "-1", "64MB"] {
        let option = format!("--lua-memory={value}");
        let out = sb.ned(&["--exit", &option, "-e", "print('ran')"]);
        out.status(2).stderr_has("Usage: ned").stderr_has(&format!(
            "invalid value '{value}' for '--lua-memory <SIZE>'"
        ));
        assert!(
            !out.stdout.contains("ran"),
            "the statement ran:
{out}"
        );
    }
}

/// The kernel says ENOENT for a missing `#!` interpreter as for a missing
/// program; ned looks at the file and says which one is missing.
#[test]
fn missing_interpreter_is_named() {
    let sb = Sandbox::new();
    let prog = sb.exe("prog", "#!/no/such/interp -x\necho hi\n");
    let out = sb.run_script(
        "--wait-and-exit",
        "s.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:start({}, 'rom/prog')\n",
    );
    out.status(1).stderr_has(&format!(
        "s.lua:2: could not create process: rom/prog: interpreter '/no/such/interp' \
         named on the first line of '{}' not found",
        prog.display()
    ));
}

#[test]
fn missing_program_names_the_directory_looked_in() {
    let sb = Sandbox::new();
    let out = sb.run_script(
        "--wait-and-exit",
        "s.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:start({}, 'rom/missing')\n",
    );
    out.status(1).stderr_has(&format!(
        "s.lua:2: could not create process: rom/missing: no file 'missing' in {}",
        sb.rom().display()
    ));
}

#[test]
fn unknown_start_keys_warn_once_per_call_site() {
    let sb = Sandbox::new();
    let out = sb.run_script(
        "--wait-and-exit",
        "w.lua",
        "local L4 = require('L4')\nlocal ld, E = L4.default_loader, L4.Env\n\
         for i = 1, 3 do ld:start({ logs = { 'a' }, cap = { x = 1 }, xyzzy = 1, [1] = 2 }, 'rom/probe') end\n\
         ld:start({ logs = { 'b' } }, 'rom/probe')\n\
         ld:start({ caps = { x = 1 }, log = { 'ok' }, l4re_dbg = 0, ldr_flags = 0, scheduler = ld:create_sched_proxy({}),\n\
                    factory = E.factory, mem = E.mem_alloc, log_fab = E.factory, rm_fab = E.factory }, 'rom/probe')\n\
         ld:start({ log_tag = 'tagged', log_color = 'red' }, 'rom/probe')\n",
    );
    out.ok().no_lua_error();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("ned: warning: "))
        .collect();
    for want in [
        "w.lua:3: unknown key 'logs' in start table (did you mean 'log'?)",
        "w.lua:3: unknown key 'cap' in start table (did you mean 'caps'?)",
        "w.lua:3: unknown key 'xyzzy' in start table",
        "w.lua:3: unknown key [1] in start table",
        "w.lua:4: unknown key 'logs' in start table (did you mean 'log'?)",
    ] {
        let n = warnings.iter().filter(|w| w.ends_with(want)).count();
        assert_eq!(n, 1, "{want:?} expected once:\n{out}");
    }
    assert_eq!(warnings.len(), 5, "only those warnings:\n{out}");
    assert!(!out.stderr.contains("xyzzy' in start table ("), "{out}");
    // All six tasks ran: unknown keys are ignored, as upstream does (so
    // `logs` left the default tag).
    assert_eq!(out.log("probe").len(), 4, "{out}");
    assert_eq!(out.log("ok").len() + out.log("tagged").len(), 2, "{out}");
}

/// A task's pid from a `pid <n>` line of the script's output.
fn pid_line(stdout: &str) -> Option<i64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid\t"))
        .and_then(|p| p.parse().ok())
}

/// Under an address-space limit the default Lua limit (half of it) is
/// reached first: the script gets `not enough memory`, ned stops the task
/// it started and exits 1, even in serve mode — instead of aborting in the
/// allocator and leaving the task behind.
#[test]
fn main_state_out_of_memory_stops_the_tasks_and_exits_1() {
    let sb = Sandbox::new();
    let s = sb.file(
        "grow.lua",
        "local L4 = require('L4')\n\
         local t = L4.default_loader:start({ log = { 'sleeper' } }, 'rom/probe --sleep 120')\n\
         print('pid', t:pid())\n\
         io.stdout:flush()\n\
         local big, i = {}, 0\n\
         while true do i = i + 1; big[i] = string.rep('x', 4096) .. i end\n",
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -v 1000000; exec \"$0\" \"$@\"")
        .arg(ned_bin())
        .arg(&s)
        .current_dir(&sb.root)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    let out = run(&mut cmd);
    out.status(1)
        .stderr_has("lua error: ")
        .stderr_has("grow.lua: not enough memory")
        .stderr_has("--lua-memory");
    assert!(!out.stderr.contains("memory allocation"), "{out}");
    let pid = pid_line(&out.stdout).unwrap_or_else(|| panic!("no pid line:\n{out}"));
    assert!(
        wait_for(Duration::from_secs(5), || !pid_alive(pid)),
        "task {pid} outlived ned:\n{out}"
    );
}

/// The same from an exit handler run by the serving loop: the handler's
/// error stops the tasks and ned exits 1, instead of serving on with a
/// state that ran out of memory.
#[test]
fn an_exit_handler_out_of_memory_stops_the_tasks_and_exits_1() {
    let sb = Sandbox::new();
    let out = sb.ned(&[
        "--wait-and-exit",
        "--lua-memory",
        "50M",
        "-e",
        "local ld = require('L4').default_loader\n\
         local t = ld:start({ log = { 'sleeper' } }, '/bin/sleep 120')\n\
         print('pid', t:pid())\n\
         ld:start({}, '/bin/true'):exit_handler(function()\n\
           local big, i = {}, 0\n\
           while true do i = i + 1; big[i] = string.rep('x', 4096) .. i end\n\
         end)",
    ]);
    out.status(1)
        .stderr_has("lua error: exit handler: not enough memory");
    let pid = pid_line(&out.stdout).unwrap_or_else(|| panic!("no pid line:\n{out}"));
    assert!(
        wait_for(Duration::from_secs(5), || !pid_alive(pid)),
        "task {pid} outlived ned:\n{out}"
    );
}

#[test]
fn lua_memory_option_sets_the_limit() {
    let sb = Sandbox::new();
    let s = sb.file(
        "big.lua",
        "local parts = {}\n\
         for i = 1, 100 do parts[i] = string.rep('x', 1 << 20) .. i end\n\
         print('allocated', #parts)\n",
    );
    sb.ned(&["--exit", "--lua-memory", "50M", path_str(&s)])
        .status(1)
        .stderr_has("big.lua: not enough memory (the main Lua state may use 50.0 MiB");
    sb.ned(&["--exit", "--lua-memory", "200M", path_str(&s)])
        .ok()
        .stdout_has("allocated\t100");
}
