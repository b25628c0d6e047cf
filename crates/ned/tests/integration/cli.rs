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
