//! Starting programs (spec §9) and what a task receives (§10), read from
//! `ned-probe`'s JSON report: argv, environment, fds, `LISTEN_*`.

use serde_json::Value;

use crate::util::{Sandbox, fds, path_str, probe_bin};

fn argv(report: &Value) -> Vec<String> {
    report["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_owned())
        .collect()
}

fn env_keys(report: &Value) -> Vec<String> {
    report["env"]
        .as_object()
        .expect("env")
        .keys()
        .cloned()
        .collect()
}

fn fdnames(report: &Value) -> Vec<String> {
    match report["listen"]["fdnames"].as_array() {
        Some(a) => a
            .iter()
            .map(|v| v.as_str().unwrap_or("?").to_owned())
            .collect(),
        None => Vec::new(),
    }
}

/// fds are exactly 0, 1, 2 and 3..3+N for the names, in name order, with
/// LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES agreeing.
pub(crate) fn assert_exact_fds(report: &Value, names: &[&str]) {
    let got = fds(report);
    let want_fds: Vec<i64> = (0..3 + names.len() as i64).collect();
    let got_fds: Vec<i64> = got.iter().map(|(fd, _)| *fd).collect();
    assert_eq!(got_fds, want_fds, "fds of {report}");
    assert_eq!(got[0].1, "chr", "stdin is /dev/null: {report}");
    assert_eq!(report["fds"][0]["target"], "/dev/null", "{report}");
    assert_eq!(got[1].1, "pipe", "stdout is its log pipe: {report}");
    assert_eq!(got[2].1, "pipe", "stderr is its log pipe: {report}");
    // One pipe per stream, so ned tells stderr from stdout (docs/logs.md).
    assert_ne!(
        report["fds"][1]["target"], report["fds"][2]["target"],
        "stdout and stderr have a log pipe each: {report}"
    );
    assert_eq!(fdnames(report), names, "LISTEN_FDNAMES of {report}");
    assert_eq!(
        report["listen"]["fds"].as_u64(),
        Some(names.len() as u64),
        "LISTEN_FDS of {report}"
    );
    assert_eq!(
        report["listen"]["pid"], report["pid"],
        "LISTEN_PID: {report}"
    );
    assert_eq!(report["listen"]["pid_matches"], true, "{report}");
}

#[test]
fn start_splits_on_white_space_and_keeps_argv0() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         L4.default_loader:start({ log = { 'p' } }, '  rom/probe   a  \\t b\\nc  \"d e\"  ')\n",
    );
    out.ok().no_lua_error();
    assert_eq!(
        argv(&out.probe("p")),
        ["rom/probe", "a", "b", "c", "\"d", "e\""]
    );
}

#[test]
fn startv_keeps_arguments_skips_nil_and_converts_numbers() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         L4.default_loader:startv({ log = { 'p' } }, 'rom/probe', 'a b', nil, 5, '', ' x ', 2.5, nil)\n",
    );
    out.ok().no_lua_error();
    assert_eq!(
        argv(&out.probe("p")),
        ["rom/probe", "a b", "5", "", " x ", "2.5"]
    );
}

#[test]
fn environment_is_exactly_the_given_table() {
    let sb = Sandbox::new();
    let s = sb.file(
        "env.lua",
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:start({ log = { 'given' } }, 'rom/probe x', { FOO = 'bar baz', N = 7, EMPTY = '' })\n\
         ld:startv({ log = { 'givenv' } }, 'rom/probe', 'y', { PATH = '/nowhere' })\n\
         ld:start({ log = { 'none' } }, 'rom/probe')\n",
    );
    let mut cmd = sb.command(&["--wait-and-exit", path_str(&s)]);
    cmd.env("NED_IT_SECRET", "must-not-leak")
        .env("PATH", "/usr/bin:/bin");
    let out = crate::util::run(&mut cmd);
    out.ok().no_lua_error();
    let listen = ["LISTEN_FDNAMES", "LISTEN_FDS", "LISTEN_PID"];
    let given = out.probe("given");
    assert_eq!(given["env"]["FOO"], "bar baz");
    assert_eq!(given["env"]["N"], "7");
    assert_eq!(given["env"]["EMPTY"], "");
    let mut want: Vec<String> = ["EMPTY", "FOO", "N"]
        .iter()
        .chain(&listen)
        .map(|s| s.to_string())
        .collect();
    want.sort();
    assert_eq!(env_keys(&given), want);
    assert_eq!(argv(&given), ["rom/probe", "x"]);
    let givenv = out.probe("givenv");
    assert_eq!(givenv["env"]["PATH"], "/nowhere");
    assert_eq!(argv(&givenv), ["rom/probe", "y"]);
    assert_eq!(env_keys(&out.probe("none")), listen);
    assert!(!out.stdout.contains("must-not-leak"), "{out}");
}

#[test]
fn program_resolution_rom_cap_name_and_absolute_path() {
    let sb = Sandbox::new();
    let abs = probe_bin();
    let out = sb.wait_and_exit(&format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         ld:start({{ log = {{ 'rom' }} }}, 'rom/probe')\n\
         ld:start({{ log = {{ 'bare' }}, caps = {{ myprog = L4.Env.rom:query('probe')() }} }}, 'myprog arg')\n\
         ld:start({{ log = {{ 'abs' }} }}, '{}')\n\
         ld:start({{ log = {{ 'nsrom' }}, caps = {{ bin = {{ tool = L4.Env.rom:query('probe')() }} }} }}, 'bin/tool')\n",
        abs.display()
    ));
    out.ok().no_lua_error();
    assert_eq!(argv(&out.probe("rom")), ["rom/probe"]);
    let bare = out.probe("bare");
    assert_eq!(argv(&bare), ["myprog", "arg"]);
    assert_eq!(fdnames(&bare), ["myprog", "rom"]);
    assert_eq!(argv(&out.probe("abs")), [path_str(&abs)]);
    assert_eq!(argv(&out.probe("nsrom")), ["bin/tool"]);
}

#[test]
fn a_program_that_cannot_be_started_raises_could_not_create_process() {
    let sb = Sandbox::new();
    sb.file("data", "not a program\n");
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local cases = { 'rom/missing', '/nonexistent/prog', 'nocap', 'rom/data', 'rom', 'rom/../rom/probe' }\n\
         for _, c in ipairs(cases) do\n\
           local ok, err = pcall(ld.start, ld, {}, c)\n\
           assert(not ok, c .. ' started')\n\
           assert(tostring(err):find('could not create process: ', 1, true), c .. ': ' .. tostring(err))\n\
           print('refused', c)\n\
         end\n\
         local ok, err = pcall(ld.start, ld, { caps = { rom = {} } }, 'rom/probe')\n\
         assert(not ok and err:find('could not create process', 1, true), 'empty rom: ' .. tostring(err))\n\
         print('all refused')\n",
    );
    out.ok().no_lua_error().stdout_has("all refused");
    assert!(!out.stdout.contains(" | {"), "no task ran: {out}");
}

/// The key test: over many starts with different caps, every task has
/// exactly fds 0, 1, 2 and its granted caps at 3.. in name order, and the
/// `LISTEN_*` variables agree — no stray fd from ned or from other tasks.
#[test]
fn fifty_starts_give_exactly_the_granted_fds() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local E = L4.Env\n\
         local ch = ld:new_channel()\n\
         local pool = {\n\
           zeta = function() return ch end,\n\
           alpha = ch:svr(),\n\
           mid = E.mem_alloc:create(L4.Proto.Dataspace, 8192),\n\
           ['a-16-char-name!!'] = E.factory:create(L4.Proto.Semaphore),\n\
           b = E.rom:query('probe')(),\n\
           ns = { inner = ch },\n\
         }\n\
         local names = { 'zeta', 'alpha', 'mid', 'a-16-char-name!!', 'b', 'ns' }\n\
         for i = 1, 50 do\n\
           local caps = {}\n\
           for j, n in ipairs(names) do\n\
             if (i >> (j - 1)) & 1 == 1 then caps[n] = pool[n] end\n\
           end\n\
           if i % 7 == 0 then caps.rom = { probe = E.rom:query('probe')() } end\n\
           caps.skipped_num, caps.skipped_str, caps.skipped_bool = 1, 'x', true\n\
           ld:start({ caps = caps, log = { 'p' .. i } }, 'rom/probe ' .. i)\n\
         end\n",
    );
    out.ok().no_lua_error();
    let names = ["zeta", "alpha", "mid", "a-16-char-name!!", "b", "ns"];
    for i in 1..=50usize {
        let report = out.probe(&format!("p{i}"));
        assert_eq!(argv(&report), ["rom/probe".to_owned(), i.to_string()]);
        let mut want: Vec<&str> = names
            .iter()
            .enumerate()
            .filter(|(j, _)| (i >> j) & 1 == 1)
            .map(|(_, n)| *n)
            .collect();
        want.push("rom");
        want.sort_unstable();
        assert_exact_fds(&report, &want);
        let rom_fd = 3 + want.iter().position(|n| *n == "rom").expect("rom");
        let rom = &report["fds"][rom_fd];
        if i % 7 == 0 {
            assert_ne!(
                rom["kind"], "dir",
                "caps.rom = {{}} replaced the rom: {report}"
            );
        } else {
            assert_eq!(rom["kind"], "dir", "default rom: {report}");
            assert_eq!(rom["target"], path_str(&sb.rom()), "{report}");
            assert_eq!(rom["access"], "r", "default rom is read-only: {report}");
        }
    }
}

#[test]
fn caps_rights_reach_the_fds() {
    let sb = Sandbox::new();
    sb.file("data", "some data\n");
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ds = L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)\n\
         L4.default_loader:start({ log = { 'p' }, caps = {\n\
           ds_r = ds, ds_rw = ds:m('rw'), file = L4.Env.rom:query('data')(),\n\
           file_rw = L4.Env.rom:query('data', 'rw')(),\n\
           chan_srv = L4.default_loader:new_channel():svr() } }, 'rom/probe')\n",
    );
    out.ok().no_lua_error();
    let report = out.probe("p");
    assert_exact_fds(
        &report,
        &["chan_srv", "ds_r", "ds_rw", "file", "file_rw", "rom"],
    );
    let f = &report["fds"];
    assert_eq!(f[3]["kind"], "socket");
    assert_eq!(f[3]["listening"], true, "svr() holder gets the listener");
    assert_eq!(f[4]["kind"], "memfd");
    assert_eq!(f[4]["access"], "r", "dataspace without w is read-only");
    assert_eq!(f[5]["access"], "rw", "dataspace with w is writable");
    assert_eq!(f[6]["kind"], "file");
    assert_eq!(f[6]["access"], "r", "a queried file cap is read-only");
    assert_eq!(f[7]["access"], "rw", "a file cap with w is writable");
    assert_eq!(f[8]["access"], "r", "the default rom is read-only");
}

#[test]
fn cap_names_up_to_16_characters() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local ch = ld:new_channel()\n\
         ld:start({ log = { 'p' }, caps = { ['sixteen-chars-ok'] = ch } }, 'rom/probe')\n\
         local ok, err = pcall(ld.start, ld, { caps = { ['seventeen-chars-x'] = ch } }, 'rom/probe')\n\
         assert(not ok)\n\
         print(err)\n\
         for _, bad in ipairs({ 'a:b', 'a\\0b' }) do\n\
           local ok, err = pcall(ld.start, ld, { caps = { [bad] = ch } }, 'rom/probe')\n\
           assert(not ok, 'accepted a bad name')\n\
           print('rejected', (err:gsub('%z', '\\\\0')))\n\
         end\n",
    );
    out.ok()
        .no_lua_error()
        .stdout_has("Capability name 'seventeen-chars-x' too long");
    assert_eq!(out.stdout.matches("rejected").count(), 2, "{out}");
    assert_exact_fds(&out.probe("p"), &["rom", "sixteen-chars-ok"]);
}

#[test]
fn table_and_function_valued_caps() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local ch = ld:new_channel()\n\
         local seen\n\
         local caps = { ns = { x = ch }, fn = function(c) seen = c; return ch:svr() end,\n\
                        none = function() return nil end, num = 42 }\n\
         ld:start({ log = { 'p' }, caps = caps }, 'rom/probe')\n\
         print('rewritten', type(caps.ns), tostring(caps.ns):match('Namespace') ~= nil)\n\
         print('called with caps', seen == caps)\n",
    );
    out.ok()
        .no_lua_error()
        .stdout_has("rewritten\tuserdata\ttrue")
        .stdout_has("called with caps\ttrue");
    let report = out.probe("p");
    assert_exact_fds(&report, &["fn", "ns", "rom"]);
    assert_eq!(report["fds"][3]["listening"], true, "fn gave ch:svr()");
}

#[test]
fn log_env_log_inherits_ned_console_and_dbg_flags_print() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         L4.default_loader:start({ log = L4.Env.log,\n\
           l4re_dbg = L4.Dbg.Cmd_line | L4.Dbg.Loader }, 'rom/probe console')\n",
    );
    out.ok().no_lua_error();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("untagged probe output: {out}"));
    let report: Value = serde_json::from_str(line).expect("json");
    assert_eq!(argv(&report), ["rom/probe", "console"]);
    assert_eq!(fdnames(&report), ["rom"]);
    out.stderr_has("rom/probe console").stderr_has("rom=");
}
