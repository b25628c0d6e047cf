//! The log multiplexer (spec §14): `tag | line` with padded tags, no colour
//! when not a terminal or with NO_COLOR, whole lines only, the last partial
//! line flushed, bytes that are not UTF-8 passed through.

use crate::util::{Sandbox, path_str, run};

#[test]
fn tag_bar_line_with_padding() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'a', 'red' } }, '/bin/sh', '-c', 'echo first; echo second >&2')\n\
         ld:startv({ log = { 'longer-tag', 'b' } }, '/bin/echo', 'hello world')\n\
         ld:startv({}, '/bin/echo', 'default tag')\n",
    );
    out.ok().no_lua_error();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"a          | first"), "{out}");
    assert!(
        lines.contains(&"a          | second"),
        "stderr is logged too: {out}"
    );
    assert!(lines.contains(&"longer-tag | hello world"), "{out}");
    assert!(
        lines.contains(&"echo       | default tag"),
        "tag defaults to the basename: {out}"
    );
}

#[test]
fn no_colour_with_no_color_or_without_a_terminal() {
    let sb = Sandbox::new();
    let s = sb.file(
        "c.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 'c', 'G' } }, '/bin/echo', 'coloured?')\n",
    );
    let with = sb.ned(&["--wait-and-exit", path_str(&s)]);
    with.ok().stdout_has("c | coloured?");
    let mut cmd = sb.command(&["--wait-and-exit", path_str(&s)]);
    cmd.env_remove("NO_COLOR");
    let without = run(&mut cmd);
    without.ok().stdout_has("c | coloured?");
    for out in [with, without] {
        assert!(
            !out.stdout_raw.contains(&0x1b),
            "escape codes in a pipe: {out}"
        );
    }
}

#[test]
fn long_lines_from_many_tasks_never_interleave() {
    let sb = Sandbox::new();
    // Four writers, 500 lines of 10,000 bytes each (more than PIPE_BUF, so
    // each line arrives in pieces), all at once.
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         for _, c in ipairs({ 'A', 'B', 'C', 'D' }) do\n\
           ld:startv({ log = { c } }, '/bin/sh', '-c',\n\
             'i=0; l=$(printf \"%10000s\" \"\" | tr \" \" ' .. c .. '); while [ $i -lt 500 ]; do echo \"$l\"; i=$((i+1)); done')\n\
         end\n",
    );
    out.ok().no_lua_error();
    for c in ['A', 'B', 'C', 'D'] {
        let lines = out.log(&c.to_string());
        assert_eq!(lines.len(), 500, "{c}: {} lines", lines.len());
        for l in &lines {
            assert!(
                l.len() == 10_000 && l.chars().all(|x| x == c),
                "{c}: a mixed or cut line of {} bytes: {}...",
                l.len(),
                &l[..l.len().min(80)]
            );
        }
    }
    for l in out.stdout.lines() {
        assert!(
            l.contains(" | "),
            "a line without a tag: {}",
            &l[..l.len().min(80)]
        );
    }
}

#[test]
fn last_partial_line_is_flushed_and_binary_passes_through() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:startv({ log = { 'partial' } }, '/bin/sh', '-c', 'printf \"full\\\\nno newline\"')\n\
         ld:startv({ log = { 'bin' } }, '/bin/sh', '-c', 'printf \"\\\\377\\\\376 raw \\\\001\\\\n\"')\n",
    );
    out.ok().no_lua_error();
    assert_eq!(out.log("partial"), ["full", "no newline"], "{out}");
    let needle = b"bin     | \xff\xfe raw \x01\n";
    assert!(
        out.stdout_raw.windows(needle.len()).any(|w| w == needle),
        "non-UTF-8 bytes changed: {:?}",
        String::from_utf8_lossy(&out.stdout_raw)
    );
}

#[test]
fn a_task_writing_megabytes_does_not_block_others() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local big = ld:start({ log = { 'big' } }, 'rom/probe --stdout-lines 1000000')\n\
         big:exit_handler(function(c) print('big exited', c) end)\n\
         for i = 1, 20 do\n\
           local t = ld:startv({ log = { 'small' .. i } }, '/bin/echo', 'small ' .. i)\n\
           t:exit_handler(function(c) print('small exited', i, c) end)\n\
         end\n",
    );
    out.ok().no_lua_error().stdout_has("big exited\t0");
    assert_eq!(out.log("big").len(), 1_000_001);
    for i in 1..=20 {
        assert_eq!(out.log(&format!("small{i}")), [format!("small {i}")]);
        out.stdout_has(&format!("small exited\t{i}\t0"));
    }
}

/// On a terminal the tag is coloured with its colour (blue = SGR 34);
/// `NO_COLOR` turns that off. script(1), from util-linux (essential in
/// Debian), runs ned on a pseudo-terminal.
#[test]
fn colour_on_a_terminal_unless_no_color() {
    let sb = Sandbox::new();
    let s = sb.file(
        "colour.lua",
        "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 'tag', 'blue' } }, '/bin/echo', 'hi')\n",
    );
    let cmdline = format!(
        "{} --wait-and-exit {}",
        path_str(&crate::util::ned_bin()),
        path_str(&s)
    );
    let on_tty = |no_color: bool| {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &cmdline, "/dev/null"])
            .env_remove("NO_COLOR")
            .stdin(std::process::Stdio::null());
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = cmd.output().expect("script(1) from util-linux is needed");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(
        coloured.contains("\x1b[34mtag\x1b[0m | hi"),
        "no blue tag on a terminal: {coloured:?}"
    );
    let plain = on_tty(true);
    assert!(plain.contains("tag | hi"), "{plain:?}");
    assert!(
        !plain.contains('\x1b'),
        "colour despite NO_COLOR: {plain:?}"
    );
}
