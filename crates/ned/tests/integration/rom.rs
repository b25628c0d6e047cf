//! Directory caps keep names inside them (issues 7.6, 17): a rom holding
//! an absolute symlink to /bin/echo, a relative `../../..` symlink out, a
//! symlink to a directory outside and a symlink that stays inside, tried
//! through every way ned looks a name up in a directory: `start` of a
//! program, `L4.Env.rom:query`, `require("rom/...")` and `package.path`
//! `rom/` templates (spec §3), and Lunatik runtime scripts (`--lua-root`).
//! Every refusal names the directory; nothing outside ever runs or loads.
//! Also: scripts with a byte-order mark and a `#!` line (issue 9) keep
//! their line numbers, as the boot script and as a runtime script.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{Out, Sandbox, path_str, pid_alive, wait_for};

/// A rom with every kind of way out, plus an `outside/` directory next to
/// it whose programs and modules announce themselves with `token` if they
/// ever run.
struct Escapes {
    sb: Sandbox,
    token: String,
}

impl Escapes {
    fn new() -> Escapes {
        use std::os::unix::fs::symlink;
        let sb = Sandbox::new();
        let token = format!(
            "ESCAPED-{}-{}",
            std::process::id(),
            sb.root.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        );
        let rom = sb.rom();
        let outside = sb.root.join("outside");
        std::fs::create_dir_all(&outside).expect("outside dir");
        std::fs::create_dir_all(rom.join("lib")).expect("rom/lib");
        let marker = outside.join("ran");
        write_exe(
            &outside.join("prog"),
            &format!(
                "#!/bin/sh\ntouch '{}'\nexec sleep 30 {token}\n",
                marker.display()
            ),
        );
        let module = format!("print('{token}')\nreturn function() return '{token}' end\n");
        std::fs::write(outside.join("mod.lua"), &module).expect("outside module");
        // Far more `..` than the path is deep: the climb reaches `/`.
        let climb = "../".repeat(20);
        let outside_rel = path_str(&outside).trim_start_matches('/').to_owned();

        // Programs.
        symlink("/bin/echo", rom.join("abs")).expect("abs");
        symlink(format!("{climb}bin/echo"), rom.join("climb")).expect("climb");
        symlink("../outside", rom.join("outdir")).expect("outdir");
        symlink("probe", rom.join("inside")).expect("inside");
        // Lua sources (`require`, `package.path`, Lunatik).
        symlink(outside.join("mod.lua"), rom.join("abs.lua")).expect("abs.lua");
        symlink(
            format!("{climb}{outside_rel}/mod.lua"),
            rom.join("climb.lua"),
        )
        .expect("climb.lua");
        symlink("lib/real.lua", rom.join("inside.lua")).expect("inside.lua");
        std::fs::write(
            rom.join("lib/real.lua"),
            "return function() return 'inside-ok' end\n",
        )
        .expect("real.lua");
        Escapes { sb, token }
    }

    fn rom(&self) -> PathBuf {
        self.sb.rom()
    }

    /// Nothing from outside ran: no output, no marker, no process.
    fn nothing_escaped(&self, out: &Out) {
        assert!(
            !out.stdout.contains(&self.token),
            "something outside ran:\n{out}"
        );
        assert!(
            !out.stderr.contains(&self.token),
            "something outside ran:\n{out}"
        );
        assert!(
            !self.sb.root.join("outside/ran").exists(),
            "the outside program ran:\n{out}"
        );
        assert_eq!(
            procs_with(&self.token),
            Vec::<i64>::new(),
            "left running:\n{out}"
        );
    }
}

fn write_exe(p: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(p, text).expect("write exe");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Pids of live processes whose command line mentions `token`.
fn procs_with(token: &str) -> Vec<i64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(token))
                .unwrap_or(false)
                && pid_alive(*pid)
        })
        .collect()
}

/// Lua: `refused(what, want, f, ...)` asserts that `f(...)` raises a
/// string holding `want` and the rom path, and prints `refused <what>`.
fn prelude(rom: &Path) -> String {
    format!(
        "local ROM = '{}'\n\
         local function refused(what, want, f, ...)\n\
           local ok, err = pcall(f, ...)\n\
           assert(not ok, what .. ' was not refused')\n\
           assert(type(err) == 'string', what .. ': the error is a ' .. type(err))\n\
           assert(err:find(want, 1, true), what .. ': ' .. err)\n\
           assert(err:find(ROM, 1, true), what .. ' does not name the directory: ' .. err)\n\
           print('refused ' .. what)\n\
         end\n",
        path_str(rom)
    )
}

#[test]
fn start_refuses_programs_that_leave_the_rom() {
    let e = Escapes::new();
    let t = &e.token;
    let src = format!(
        "{}local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         for _, p in ipairs({{ 'abs', 'climb', 'outdir/prog', '../outside/prog' }}) do\n\
           refused(p, \"escapes the rom directory\", ld.start, ld, {{}}, 'rom/' .. p .. ' {t}')\n\
         end\n\
         local task = ld:start({{ log = {{ 'in' }} }}, 'rom/inside')\n\
         print('pid', task:pid())\n",
        prelude(&e.rom())
    );
    let out = e.sb.wait_and_exit(&src);
    out.ok().no_lua_error();
    for p in ["abs", "climb", "outdir/prog", "../outside/prog"] {
        out.stdout_has(&format!("refused {p}\n"));
    }
    // The symlink that stays inside runs the probe.
    let report = out.probe("in");
    let pid = report["pid"].as_i64().expect("probe pid");
    assert!(
        wait_for(Duration::from_secs(10), || !pid_alive(pid)),
        "the inside task outlived ned"
    );
    e.nothing_escaped(&out);
}

#[test]
fn an_uncaught_escape_is_a_script_error_naming_the_rom() {
    let e = Escapes::new();
    let src = format!(
        "local L4 = require('L4')\n\
         L4.default_loader:start({{}}, 'rom/abs {}')\n\
         print('not reached')\n",
        e.token
    );
    let out = e.sb.wait_and_exit(&src);
    out.status(1).stderr_has(&format!(
        "could not create process: rom/abs: 'abs' escapes the rom directory {}",
        path_str(&e.rom())
    ));
    assert!(!out.stdout.contains("not reached"), "{out}");
    e.nothing_escaped(&out);
}

#[test]
fn query_refuses_names_that_leave_the_rom() {
    let e = Escapes::new();
    let src = format!(
        "{}local L4 = require('L4')\n\
         local rom = L4.Env.rom\n\
         for _, n in ipairs({{ 'abs', 'climb', 'outdir', 'outdir/prog', '../outside/prog', '/etc/passwd' }}) do\n\
           refused(n, \"query: '\" .. n .. \"' escapes the directory\", rom:query(n))\n\
         end\n\
         assert(rom:query('inside')(), 'inside symlink')\n\
         assert(rom:query('lib/real.lua')(), 'file in a subdirectory')\n\
         assert(rom:query('missing')() == nil, 'missing is nil')\n\
         -- a queried cap starts as a bare program\n\
         local task = L4.default_loader:start({{ caps = {{ prog = rom:query('inside')() }}, log = {{ 'q' }} }}, 'prog')\n\
         print('pid', task:pid())\n",
        prelude(&e.rom())
    );
    let out = e.sb.wait_and_exit(&src);
    out.ok().no_lua_error().stdout_has("refused outdir/prog\n");
    let pid = out.probe("q")["pid"].as_i64().expect("probe pid");
    assert!(wait_for(Duration::from_secs(10), || !pid_alive(pid)));
    e.nothing_escaped(&out);
}

#[test]
fn require_refuses_rom_modules_that_leave_the_rom() {
    let e = Escapes::new();
    let src = format!(
        "{}for _, m in ipairs({{ 'abs', 'climb', 'outdir/mod' }}) do\n\
           refused('rom/' .. m, \"module 'rom/\" .. m .. \"': '\" .. m .. \".lua' escapes the rom directory\", require, 'rom/' .. m)\n\
         end\n\
         assert(require('rom/inside')() == 'inside-ok')\n\
         local ok, err = pcall(require, 'rom/missing')\n\
         assert(not ok and err:find(\"no file 'missing.lua' in \" .. ROM, 1, true), err)\n\
         -- the same through a `rom/` template\n\
         package.path = 'rom/?.lua'\n\
         refused('template abs', \"module 'abs': 'abs.lua' escapes the rom directory\", require, 'abs')\n\
         refused('template outdir', \"'outdir/mod.lua' escapes the rom directory\", require, 'outdir.mod')\n\
         print('all refused')\n",
        prelude(&e.rom())
    );
    let out = e.sb.wait_and_exit(&src);
    out.ok()
        .no_lua_error()
        .stdout_has("refused rom/climb\n")
        .stdout_has("all refused");
    e.nothing_escaped(&out);
}

/// Spec §3: upstream configs set `package.path = "rom/?.lua"` and then
/// `require("Aw")`; `rom/` is ned's rom from any working directory.
#[test]
fn a_rom_template_in_package_path_means_the_rom_from_any_directory() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.rom().join("pkg")).expect("rom/pkg");
    sb.file("Aw.lua", "return { name = 'Aw from rom' }\n");
    sb.file("pkg/init.lua", "return 'pkg init'\n");
    let script = sb.file(
        "boot.lua",
        "package.path = 'rom/?.lua;rom/?/init.lua'\n\
         print(require('Aw').name)\n\
         print((require('pkg')))\n\
         local ok, err = pcall(require, 'Nope')\n\
         assert(not ok)\n\
         print(err)\n",
    );
    // The working directory is not the rom's parent: a plain relative
    // `rom/?.lua` would find nothing there.
    let other = sb.root.join("elsewhere");
    std::fs::create_dir_all(&other).expect("cwd");
    let rom = sb.rom();
    let mut cmd = sb.command(&[
        "--wait-and-exit",
        "--rom",
        path_str(&rom),
        path_str(&script),
    ]);
    cmd.current_dir(&other);
    let out = crate::util::run(&mut cmd);
    out.ok()
        .no_lua_error()
        .stdout_has("Aw from rom\n")
        .stdout_has("pkg init\n")
        .stdout_has(&format!("no file 'Nope.lua' in {}", path_str(&rom)))
        .stdout_has(&format!("no file 'Nope/init.lua' in {}", path_str(&rom)));
}

#[test]
fn lunatik_runtime_scripts_stay_in_the_lua_root() {
    let e = Escapes::new();
    let src = format!(
        "{}local lunatik = require('lunatik')\n\
         for _, s in ipairs({{ 'abs', 'climb', 'outdir/mod', '../outside/mod' }}) do\n\
           refused(s, \"invalid script name '\" .. s .. \"': '\" .. s .. \".lua' escapes the Lua root\", lunatik.runtime, s)\n\
         end\n\
         assert(lunatik.runtime('inside'):resume() == 'inside-ok')\n\
         print('all refused')\n",
        prelude(&e.rom())
    );
    let script = e.sb.file("lunatik.lua", &src);
    let rom = e.rom();
    let out = e.sb.ned(&[
        "--wait-and-exit",
        "--lua-root",
        path_str(&rom),
        path_str(&script),
    ]);
    out.ok()
        .no_lua_error()
        .stdout_has("refused ../outside/mod\n")
        .stdout_has("all refused");
    e.nothing_escaped(&out);
}

const BOM: &str = "\u{feff}";

/// Issue 9: a boot script with a byte-order mark and a `#!` line runs, and
/// an error on its third line is reported on line 3.
#[test]
fn a_boot_script_with_bom_and_shebang_keeps_its_line_numbers() {
    let sb = Sandbox::new();
    let script = sb.file(
        "bom.lua",
        format!("{BOM}#!/usr/bin/env ned\nprint('bom ok')\nerror('line three')\n"),
    );
    let out = sb.ned(&["--wait-and-exit", path_str(&script)]);
    out.status(1)
        .stdout_has("bom ok\n")
        .stderr_has(&format!("lua error: {}:3: line three", path_str(&script)));
    // Either header alone, too.
    for (name, head) in [("b.lua", BOM.to_owned()), ("s.lua", "#!ned\n".to_owned())] {
        let s = sb.file(name, format!("{head}print('{name} ok')\n"));
        sb.ned(&["--wait-and-exit", path_str(&s)])
            .ok()
            .no_lua_error()
            .stdout_has(&format!("{name} ok\n"));
    }
}

/// The same header in a Lunatik runtime script and in a `require`d rom
/// module: both load, and their errors carry the file's own line numbers.
#[test]
fn runtime_scripts_and_modules_with_bom_and_shebang_keep_their_line_numbers() {
    let sb = Sandbox::new();
    sb.file(
        "rt.lua",
        format!("{BOM}#!/usr/bin/env lua\nlocal x = ...\nerror('rt line three')\n"),
    );
    sb.file(
        "rt_ok.lua",
        format!("{BOM}#!lua\nreturn function() return 'rt ok' end\n"),
    );
    sb.file(
        "mod.lua",
        format!("{BOM}#!lua\n--\nreturn function() error('mod line three') end\n"),
    );
    let out = sb.wait_and_exit(
        "local lunatik = require('lunatik')\n\
         local ok, err = pcall(lunatik.runtime, 'rt')\n\
         assert(not ok and err:find('rt.lua:3: rt line three', 1, true), err)\n\
         assert(lunatik.runtime('rt_ok'):resume() == 'rt ok')\n\
         local ok2, err2 = pcall(require('rom/mod'))\n\
         assert(not ok2 and err2:find('mod.lua:3: mod line three', 1, true), err2)\n\
         print('lines hold')\n",
    );
    out.ok().no_lua_error().stdout_has("lines hold\n");
}

/// A ned started by ned finds `rom/<script>` in the rom it inherited,
/// looked up beneath that directory too.
#[test]
fn an_inner_ned_reads_its_boot_script_beneath_its_inherited_rom() {
    let e = Escapes::new();
    let rom = e.rom();
    std::fs::create_dir_all(rom.join("sub")).expect("rom/sub");
    std::fs::write(rom.join("sub/boot.lua"), "print('inner boot from sub')\n").expect("boot");
    std::os::unix::fs::symlink(e.sb.root.join("outside/mod.lua"), rom.join("sub/evil.lua"))
        .expect("evil.lua");
    let src = format!(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local sub = L4.Env.rom:query('sub')()\n\
         for _, s in ipairs({{ 'boot', 'evil' }}) do\n\
           local t = ld:startv({{ caps = {{ rom = sub }}, log = {{ s }} }},\n\
             '{}', '--wait-and-exit', 'rom/' .. s .. '.lua')\n\
           print(s .. ' exited ' .. tostring(t:wait()))\n\
         end\n",
        path_str(&crate::util::ned_bin())
    );
    let out = e.sb.wait_and_exit(&src);
    out.ok().no_lua_error();
    // Neither script exists as `rom/<s>.lua` in the working directory, so
    // both come from the inherited rom (the sandbox's rom/sub).
    assert!(!rom.join("boot.lua").exists() && !rom.join("evil.lua").exists());
    out.stdout_has("boot | inner boot from sub")
        .stdout_has("boot exited 0")
        .stdout_has("evil exited 1")
        .stdout_has(&format!(
            "'evil.lua' escapes the rom directory {}",
            path_str(&rom.join("sub"))
        ));
    e.nothing_escaped(&out);
}
