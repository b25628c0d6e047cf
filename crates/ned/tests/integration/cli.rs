//! The command line (spec §2): exit options only first, `-e` in order,
//! the script's `arg` and `...`, `--rom`, `--help`, `--version`, and the
//! exit statuses 0 / 1 (script or statement failed) / 2 (usage).

use crate::util::{Sandbox, path_str};

#[test]
fn statements_run_in_order_and_a_failing_one_does_not_stop_the_next() {
    let sb = Sandbox::new();
    let out = sb.ned(&[
        "--exit",
        "-e",
        "print('one')",
        "--execute",
        "error('two failed')",
        "-e",
        "print('three', require('L4').Proto.Namespace)",
    ]);
    out.status(1)
        .stdout_has("one\nthree\t16385\n")
        .stderr_has("lua error: ")
        .stderr_has("two failed");
}

#[test]
fn statements_run_before_the_script_in_the_same_state() {
    let sb = Sandbox::new();
    let s = sb.file("s.lua", "print('script sees', x)\n");
    let out = sb.ned(&["--exit", "-e", "x = 41 + 1", path_str(&s)]);
    out.ok().stdout_has("script sees\t42");
}

#[test]
fn arg_table_and_dots() {
    let sb = Sandbox::new();
    let s = sb.file(
        "args.lua",
        "local a, b, c = ...\n\
         print('dots', select('#', ...), a, b, c)\n\
         print('arg', arg[0], #arg, arg[1], arg[2], arg[3])\n",
    );
    let sp = path_str(&s);
    let out = sb.ned(&["--exit", sp, "x y", "--exit", "-e"]);
    out.ok()
        .stdout_has("dots\t3\tx y\t--exit\t-e\n")
        .stdout_has(&format!("arg\t{sp}\t3\tx y\t--exit\t-e\n"));
}

#[test]
fn options_after_the_script_belong_to_the_script() {
    let sb = Sandbox::new();
    let s = sb.file("s.lua", "print('got', ...)\n");
    // `--wait-and-exit`, `--help` and `-e` after the script are arguments:
    // no help text, no statement run, and `--exit` as first option still
    // decides the mode (so ned ends).
    let out = sb.ned(&["--exit", path_str(&s), "--help", "-e", "error('no')"]);
    out.ok()
        .stdout_has("got\t--help\t-e\terror('no')")
        .no_lua_error();
    assert!(!out.stdout.contains("Usage"), "{out}");
}

#[test]
fn exit_options_only_as_first_argument() {
    let sb = Sandbox::new();
    let s = sb.file("s.lua", "print('ran')\n");
    for args in [
        vec!["-e", "x=1", "--exit", path_str(&s)],
        vec!["--rom", "/", "--wait-and-exit", path_str(&s)],
        vec!["--exit", "--wait-and-exit", path_str(&s)],
    ] {
        let out = sb.ned(&args);
        out.status(2).stderr_has("first argument");
        assert!(
            !out.stdout.contains("ran"),
            "script ran for {args:?}:\n{out}"
        );
    }
}

#[test]
fn usage_errors_exit_2_with_a_usage_line() {
    let sb = Sandbox::new();
    for args in [vec![], vec!["--bogus", "s.lua"], vec!["-e"], vec!["--rom"]] {
        let out = sb.ned(&args);
        out.status(2).stderr_has("Usage");
    }
}

#[test]
fn help_and_version() {
    let sb = Sandbox::new();
    let out = sb.ned(&["--help"]);
    out.ok()
        .stdout_has("Usage")
        .stdout_has("--execute")
        .stdout_has("--rom");
    let out = sb.ned(&["--version"]);
    out.ok()
        .stdout_has(&format!("ned {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn script_failure_exits_1_with_file_and_line() {
    let sb = Sandbox::new();
    let s = sb.file("bad.lua", "local x = 1\n\nerror('it broke')\n");
    let out = sb.ned(&["--exit", path_str(&s)]);
    out.status(1)
        .stderr_has("lua error: ")
        .stderr_has("bad.lua:3: it broke");
    // As upstream: the message alone, no traceback.
    assert!(
        out.stderr.trim_end().ends_with("bad.lua:3: it broke"),
        "{out}"
    );
    // A syntax error too.
    let s = sb.file("syntax.lua", "local = 1\n");
    sb.ned(&["--exit", path_str(&s)])
        .status(1)
        .stderr_has("lua error: ");
    // A missing script.
    sb.ned(&["--exit", "/nonexistent/script.lua"])
        .status(1)
        .stderr_has("lua error: ");
}

#[test]
fn wait_and_exit_ends_at_once_without_tasks() {
    let sb = Sandbox::new();
    sb.run_script("--wait-and-exit", "s.lua", "print('done')\n")
        .ok()
        .stdout_has("done");
}

#[test]
fn shebang_line_is_skipped_and_lines_kept() {
    let sb = Sandbox::new();
    let out = sb.run_script(
        "--exit",
        "sb.lua",
        "#!/usr/bin/env ned --exit\nprint('after shebang')\nerror('line three')\n",
    );
    out.status(1)
        .stdout_has("after shebang")
        .stderr_has("sb.lua:3: line three");
}

#[test]
fn rom_option_names_the_rom_directory() {
    let sb = Sandbox::new();
    let other = sb.root.join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("marker"), "x").expect("write");
    std::fs::write(other.join("mod.lua"), "return 'from rom module'").expect("write");
    let s = sb.file(
        "s.lua",
        "local L4 = require('L4')\n\
         print('marker', L4.Env.rom:query('marker')() ~= nil)\n\
         print('probe', L4.Env.rom:query('probe')() ~= nil)\n\
         print(require('rom/mod'))\n",
    );
    let out = sb.ned(&["--exit", "--rom", path_str(&other), path_str(&s)]);
    out.ok()
        .stdout_has("marker\ttrue")
        .stdout_has("probe\tfalse")
        .stdout_has("from rom module");
    // Without --rom, rom is the script's directory.
    let out = sb.ned(&["--exit", path_str(&s)]);
    out.status(1)
        .stdout_has("marker\tfalse")
        .stdout_has("probe\ttrue");
}

#[test]
fn l4_is_not_a_global() {
    let sb = Sandbox::new();
    sb.ned(&["--exit", "-e", "assert(L4 == nil, 'L4 is a global')"])
        .ok()
        .no_lua_error();
}

/// `ned --cap NAME=PATH[:RIGHTS]` (spec §6): a directory, a file and a
/// Unix socket path become `L4.Env.rwfs`, `.data` and `.svc`; the script,
/// shaped like upstream's rw_module config, hands them to tasks, which get
/// a directory fd, a writable file and a connection to whatever listens on
/// the socket path (here a stream socket of this test).
#[test]
fn named_caps_from_the_command_line() {
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    let outside = sb.root.join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let data = outside.join("data");
    std::fs::write(&data, "x").expect("write");
    let sock = outside.join("svc.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf).expect("read");
        c.write_all(b"served ")
            .and_then(|()| c.write_all(&buf[..n]))
    });
    let py = crate::sockets::python();
    sb.exe(
        "client.py",
        &format!(
            "#!{py}\n{}s = socket.socket(fileno=listen_fd('svc'))\ns.send(b'hi')\n\
             print('client got', s.recv(64).decode(), flush=True)\n",
            crate::sockets::PRELUDE
        ),
    );
    let script = sb.file(
        "rw.lua",
        "local L4 = require('L4')\n\
         local E = L4.Env\n\
         assert(L4.cast('Directory', E.rwfs) and E.rwfs:m() == L4.Rights.rws, tostring(E.rwfs))\n\
         assert(L4.cast('File', E.data) and E.data:m() == L4.Rights.rw, tostring(E.data))\n\
         assert(L4.cast(L4.Proto.Ipc_gate, E.svc), tostring(E.svc))\n\
         assert(E.rwfs:query('data')(), 'rwfs is the directory')\n\
         local ld = L4.default_loader\n\
         ld:start({ caps = { rwfs = E.rwfs, data = E.data }, log = { 'p' } }, 'rom/probe')\n\
         ld:start({ caps = { svc = E.svc }, log = { 'client' } }, 'rom/client.py')\n",
    );
    let out = sb.ned(&[
        "--wait-and-exit",
        &format!("--cap=rwfs={}", path_str(&outside)),
        "--cap",
        &format!("data={}:w", path_str(&data)),
        "--cap",
        &format!("svc={}", path_str(&sock)),
        path_str(&script),
    ]);
    out.ok().no_lua_error();
    let served = server.join().expect("server thread");
    assert!(served.is_ok(), "{served:?}\n{out}");
    assert_eq!(out.log("client"), ["client got served hi"], "{out}");
    let report = out.probe("p");
    let fds = &report["fds"];
    assert_eq!(fds[3]["kind"], "file", "{report}");
    assert_eq!(fds[3]["access"], "rw", "data:w is writable: {report}");
    // fds in name order: data, rom (the default), rwfs.
    assert_eq!(fds[5]["kind"], "dir", "{report}");
    assert_eq!(fds[5]["target"], path_str(&outside), "{report}");
}

/// Malformed `--cap` values are usage errors: status 2, the reason and
/// the usage line on stderr, no script run.
#[test]
fn malformed_named_caps_are_usage_errors() {
    let sb = Sandbox::new();
    let s = sb.file("s.lua", "print('script ran')\n");
    let dir = path_str(&sb.root).to_owned();
    for (value, why) in [
        ("rwfs".to_owned(), "no '='"),
        ("rwfs=".to_owned(), "the path is missing"),
        ("rwfs=:rw".to_owned(), "the path is missing"),
        (format!("rwfs={dir}:rwx"), "unknown rights letter 'x'"),
        (format!("{}={dir}", "n".repeat(17)), "too long"),
        (format!("rwfs={dir}/missing"), "No such file"),
    ] {
        let out = sb.ned(&["--exit", "--cap", &value, path_str(&s)]);
        out.status(2).stderr_has(why).stderr_has("Usage: ned");
        assert!(!out.stdout.contains("script ran"), "{out}");
    }
    let twice = format!("x={dir}");
    let out = sb.ned(&["--exit", "--cap", &twice, "--cap", &twice, path_str(&s)]);
    out.status(2)
        .stderr_has("given twice")
        .stderr_has("Usage: ned");
}

/// ned enters at its own C `main` (crates/ned/src/main.rs): what std's
/// runtime did before it, ned does itself. Closed standard fds get
/// /dev/null, so no file ned opens lands on fd 0 or 2; a reader that went
/// away is EPIPE, not SIGPIPE; clap's help reaches a pipe whole.
#[test]
fn closed_stdio_gets_dev_null_and_a_gone_reader_is_no_signal() {
    let sb = Sandbox::new();
    let chunk = "local p = io.popen('readlink /proc/$PPID/fd/0 /proc/$PPID/fd/2') \
                 print(p:read('a')) p:close()";
    let out = crate::util::run(std::process::Command::new("/bin/sh").args([
        "-c",
        r#"exec "$0" --exit -e "$1" <&- 2>&-"#,
        path_str(&crate::util::ned_bin()),
        chunk,
    ]));
    out.ok().stdout_has("/dev/null\n/dev/null\n");
    // ned prints far more than `head` reads; it must end with its own
    // status (0: lines to a gone reader are dropped and counted), not be
    // killed by SIGPIPE (the shell would record 141).
    let status = sb.rom().join("status");
    let out = crate::util::run(std::process::Command::new("/bin/sh").args([
        "-c",
        r#"{ "$0" --exit -e "for i = 1, 200000 do print(i) end"; echo $? >"$1"; } | head -n 1"#,
        path_str(&crate::util::ned_bin()),
        path_str(&status),
    ]));
    out.ok().stdout_has("1\n");
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0");
    let help = crate::util::run(std::process::Command::new("/bin/sh").args([
        "-c",
        r#""$0" --help | cat"#,
        path_str(&crate::util::ned_bin()),
    ]));
    help.ok().stdout_has("Usage").stdout_has("--rom");
}
