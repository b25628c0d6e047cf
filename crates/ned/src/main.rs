//! `ned`: runs a Lua boot script that starts tasks with exactly the
//! capabilities it grants, then supervises them (spec: ned.md §2).
//!
//! This binary is glue: it parses the command line with upstream's rules,
//! builds the Lua state, registers the `L4` and Lunatik packages and hands
//! control to the loop in `lua-l4`.
//!
//! The main Lua state has a memory limit ([`lua_memory_limit`]). Without
//! one, a script that grows a table forever makes an allocation fail, and
//! Rust's allocator aborts ned, leaving its tasks behind; with it, the script
//! gets Lua's `not enough memory` error, and ned then shuts its tasks down
//! and exits 1 whatever the mode: the state's heap was full and the script
//! did not finish.

// The test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

mod cli;

use anyhow::Context;
use lua_l4::Host;
use mlua::{Lua, MultiValue, Value};
use ned_core::cap::Object;
use ned_core::console::Console;
use ned_core::log::LogMux;
use ned_core::supervisor::Supervisor;
use ned_core::{Cap, Rights};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// ned's entry point, called by the C runtime. ned skips std's runtime
/// set-up (`#![no_main]`): on a virtual machine its system calls — reading
/// all of /proc/self/maps to find the main thread's stack, an alternate
/// signal stack and its handlers — were a measurable part of an empty
/// script's start (bench/README.md). What of it ned needs,
/// [`ned_spawn::prepare_process`] does; the arguments come from
/// `std::env::args_os`, which std fills in on glibc before `main` runs.
// In the test harness's build the harness's `main` is the entry point.
#[cfg_attr(not(test), unsafe(no_mangle))]
extern "C" fn main() -> std::ffi::c_int {
    ned_spawn::prepare_process();
    // A panic must not unwind into C: it was reported by the hook; ned
    // ends with status 101 as a Rust `main` would.
    let status = std::panic::catch_unwind(start).unwrap_or(101);
    // On every way out, what ned queued for its console gets a bounded
    // time to be written, and std's own stdout buffer (clap's help) is
    // flushed: nothing after `main` does it without std's runtime.
    ned_core::console::finish();
    let _ = std::io::Write::flush(&mut std::io::stdout());
    status.into()
}

fn start() -> u8 {
    // A parent may have left signals ignored, which survives exec: an
    // ignored SIGCHLD would make the kernel discard every task's exit status.
    ned_spawn::reset_inherited_signals(&ned_core::shutdown::INHERITED_RESET);
    // First, before anything opens a descriptor: the caps ned was given.
    let inherited = ned_spawn::take_listen_fds();
    let opts = match cli::parse(std::env::args_os().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and errors to
            // stderr (exit 2).
            let _ = e.print();
            if !e.use_stderr() {
                return 0;
            }
            // Spec §2: every usage error shows the usage line; clap omits
            // it for some kinds (a missing option value, our own errors).
            if !e.render().to_string().contains("Usage:") {
                ned_core::diag!("\n{}", cli::usage());
            }
            return 2;
        }
    };
    match run(opts, inherited) {
        Ok(status) => status,
        Err(e) => {
            ned_core::diag!("ned: {e:#}");
            1
        }
    }
}

/// Runs ned; returns the exit status: the one `os.exit` asked for, else 1
/// when the script or a statement failed, else 0.
fn run(mut opts: cli::Options, inherited: Vec<(String, OwnedFd)>) -> anyhow::Result<u8> {
    let tty = rustix::termios::isatty(rustix::stdio::stdout());
    let log = ned_core::log::LogOptions {
        colors: std::env::var_os("NO_COLOR").is_none() && tty,
        escape: tty && !opts.log_raw,
        ..opts.log
    };
    let json = log.format == ned_core::log::Format::Json;
    ned_core::console::set_json(json);
    let out = ned_core::console::stdout().context("failed to start ned's stdout writer")?;
    let mux = LogMux::with_options(out.clone(), log).context("failed to set up the logs")?;
    let mut sup = Supervisor::new(mux).context("failed to start the supervisor")?;
    if let Some(n) = opts.command_budget {
        sup.set_command_budget(n);
    }
    if let Some(path) = &opts.control
        && let Err(e) = sup.listen_commands(path)
    {
        ned_core::diag!(
            "ned: --control {}: {:#}",
            path.display(),
            anyhow::Error::new(e)
        );
        return Ok(2);
    }
    let shutdown = sup.shutdown().clone();
    // As PID 1 every orphan lands on ned; otherwise ned is a child
    // subreaper, so the orphans of its own descendants do (a daemon whose
    // parent exited is still ned's to reap and to end at shutdown).
    // `--subreaper` asks for what is the default.
    sup.enable_reaping(!rustix::process::getpid().is_init())
        .context("failed to become a subreaper")?;
    if let Some(tag) = opts.exit_code_from.clone() {
        sup.set_exit_code_from(tag);
    }

    let mut inherited = adopt(inherited);
    // `--cap` caps join them, as a parent would have given them.
    inherited.append(&mut opts.caps);
    // An inherited `rom` directory is this ned's rom, unless --rom says
    // otherwise; either way L4.Env.rom is built from the path.
    let inherited_rom: Option<Cap> = inherited
        .iter()
        .position(|(n, c)| n == "rom" && c.kind() == ned_core::Kind::Directory)
        .map(|i| inherited.remove(i).1);
    let inherited_rom_path = inherited_rom
        .as_ref()
        .and_then(|c| c.host_path().map(Path::to_path_buf));
    // A ned started by ned may name its script in its rom: `rom/boot.lua`,
    // looked up beneath that directory.
    let mut in_rom = None;
    if let (Some(script), Some(rom), Some(rom_path)) =
        (&opts.script, &inherited_rom, &inherited_rom_path)
        && !script.exists()
        && let Ok(rest) = script.strip_prefix("rom")
        && let Some(name) = rest.to_str()
    {
        in_rom = Some((rom, name.to_owned()));
        opts.script = Some(rom_path.join(rest));
    }
    let script_dir = opts
        .script
        .as_ref()
        .and_then(|s| s.parent())
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let rom = opts
        .rom
        .clone()
        .or_else(|| inherited_rom_path.clone())
        .unwrap_or_else(|| script_dir.clone());
    let lua_root = opts.lua_root.clone().unwrap_or_else(|| script_dir.clone());

    let lua = Lua::new();
    // As lua.c does: no collection while the libraries are set up, whose
    // tables all stay alive anyway.
    lua.gc_stop();
    let memory = lua_memory_limit(opts.lua_memory);
    lua.set_memory_limit(memory)
        .context("failed to limit the Lua state's memory")?;
    setup_globals(&lua, &opts, &script_dir, out.clone(), json).context("failed to set up Lua")?;
    let host = lua_l4::register(
        &lua,
        Host {
            sup,
            rom,
            inherited,
        },
    )
    .context("failed to register the L4 package")?;
    // Runtimes give control back when ned is asked to stop, not at the
    // normal end (exit handlers may still use them then).
    let interrupt = {
        let shutdown = shutdown.clone();
        move || shutdown.pending()
    };
    let config = lunatik::Config {
        interrupt: Some(lunatik::Interrupt(Arc::new(interrupt))),
        ..lunatik::Config::new(lua_root)
    };
    lunatik::register(&lua, config).context("failed to register lunatik")?;
    lua.gc_restart();

    let mut ok = true;
    let mut out_of_memory = false;
    for stmt in &opts.execute {
        if shutdown.requested().is_some() {
            break;
        }
        let stmt = lua.load(stmt.as_str()).set_name("=(command line)");
        if let Err(e) = stmt
            .into_function()
            .and_then(|f| lua_l4::call(&lua, &f, ()))
        {
            out_of_memory = report(&e, "(command line)", memory);
            ok = false;
            if out_of_memory {
                break;
            }
        }
    }
    if let Some(script) = &opts.script
        && shutdown.requested().is_none()
        && !out_of_memory
    {
        let src = match &in_rom {
            Some((rom, name)) => rom
                .beneath("rom directory")
                .ok_or_else(|| format!("'{name}': the inherited rom is no directory"))
                .and_then(|dir| dir.read_script(name).map_err(|e| e.to_string())),
            None => ned_path::script::read(script).map_err(|e| e.to_string()),
        };
        if let Err(e) = run_script(&lua, script, src, &opts.args) {
            out_of_memory = report(&e, &script.display().to_string(), memory);
            ok = false;
        }
    }
    // Out of memory, the script cannot be trusted to go on: ned stops its
    // tasks and exits, whatever the exit option.
    let mode = if out_of_memory {
        lua_l4::Mode::Exit
    } else {
        opts.mode
    };
    lua_l4::run(&lua, &host, mode);
    let from_task = lua_l4::exit_code_from(&host);
    if let Some(path) = &opts.timeline
        && let Err(e) = lua_l4::write_timeline(&host, path)
    {
        ned_core::diag!("ned: {e}");
    }
    lua_l4::teardown(lua, host);
    if let (Some(tag), None) = (&opts.exit_code_from, from_task) {
        ned_core::diag!("ned: --exit-code-from {tag}: no task with that log tag ended");
        return Ok(1);
    }
    Ok(match from_task.or(shutdown.exit_status()) {
        Some(status) => status,
        None => u8::from(!ok),
    })
}

/// The main state's limit when --lua-memory does not set one.
const DEFAULT_LUA_MEMORY: usize = 1 << 30;

/// `--lua-memory`, else 1 GiB, or half the address-space limit (RLIMIT_AS)
/// when that is lower: the other half is headroom for what Lua does not
/// count — ned's own allocations, the Lunatik runtimes, thread stacks and
/// the mappings of the binary — so that Lua's limit is reached before a
/// real allocation fails.
fn lua_memory_limit(option: Option<usize>) -> usize {
    option.unwrap_or_else(|| {
        let limit = rustix::process::getrlimit(rustix::process::Resource::As).current;
        limit.map_or(DEFAULT_LUA_MEMORY, |l| {
            usize::try_from(l / 2).map_or(DEFAULT_LUA_MEMORY, |half| half.min(DEFAULT_LUA_MEMORY))
        })
    })
}

/// The objects behind the fds ned was started with; those of no cap type
/// are closed with a warning.
fn adopt(fds: Vec<(String, OwnedFd)>) -> Vec<(String, Cap)> {
    fds.into_iter()
        .filter_map(|(name, fd)| match Object::adopt(fd) {
            Ok(obj) => Some((name, Cap::new(obj, Rights::RWS))),
            Err(e) => {
                ned_core::diag!("ned: ignoring inherited cap '{name}': {e}");
                None
            }
        })
        .collect()
}

/// Prints a failed chunk's `lua error: ...`; true when the main state ran
/// out of memory (Lua's message has no position, so `chunk` names it).
fn report(e: &mlua::Error, chunk: &str, limit: usize) -> bool {
    if lua_l4::is_out_of_memory(e) {
        ned_core::diag!(
            "lua error: {chunk}: not enough memory (the main Lua state may use {:.1} MiB, \
             see --lua-memory); stopping the tasks",
            limit as f64 / f64::from(1 << 20)
        );
        return true;
    }
    lua_l4::report(e);
    false
}

/// `arg`, `package.path` with the script's directory, and a `print` that
/// goes through ned's stdout console, so script output and task logs stay
/// in order and a stalled console drops (and counts) lines instead of
/// blocking the script. With `json`, each printed line is a record with
/// `"tag":"print"`, so that stdout holds nothing but JSON.
fn setup_globals(
    lua: &Lua,
    opts: &cli::Options,
    script_dir: &std::path::Path,
    out: Console,
    json: bool,
) -> mlua::Result<()> {
    let g = lua.globals();
    let arg = lua.create_table()?;
    if let Some(s) = &opts.script {
        arg.raw_set(0, s.to_string_lossy().as_ref())?;
    }
    for (i, a) in opts.args.iter().enumerate() {
        arg.raw_set(i as i64 + 1, lua.create_string(a.as_encoded_bytes())?)?;
    }
    g.set("arg", arg)?;
    let package: mlua::Table = g.get("package")?;
    let path: String = package.get("path")?;
    package.set("path", format!("{}/?.lua;{path}", script_dir.display()))?;
    let tostring: mlua::Function = g.get("tostring")?;
    g.set(
        "print",
        lua.create_function(move |_, args: MultiValue| {
            let mut line = Vec::new();
            for (i, v) in args.into_iter().enumerate() {
                if i > 0 {
                    line.push(b'\t');
                }
                let s: mlua::LuaString = tostring.call(v)?;
                line.extend_from_slice(&s.as_bytes());
            }
            if json {
                out.write_lines(&ned_core::log::print_record(&line));
            } else {
                line.push(b'\n');
                out.write_lines(&line);
            }
            Ok(())
        })?,
    )?;
    Ok(())
}

/// Runs the boot script read from `script` (its header already stripped).
fn run_script(
    lua: &Lua,
    script: &Path,
    src: Result<Vec<u8>, String>,
    args: &[std::ffi::OsString],
) -> mlua::Result<()> {
    let src =
        src.map_err(|e| mlua::Error::runtime(format!("cannot open {}: {e}", script.display())))?;
    let chunk = lua.load(src).set_name(format!("@{}", script.display()));
    let vals = args
        .iter()
        .map(|a| lua.create_string(a.as_encoded_bytes()).map(Value::String))
        .collect::<mlua::Result<Vec<_>>>()?;
    lua_l4::call(lua, &chunk.into_function()?, MultiValue::from_vec(vals))
}
