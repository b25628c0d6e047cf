//! `require` and ned's rom directory (spec §3).
//!
//! Upstream scripts reach the rom through `require("rom/x")` or by setting
//! `package.path = "rom/?.lua"` and then `require("x")`; in both, `rom/` is
//! ned's rom directory, whatever ned's working directory is. This module
//! replaces Lua's own file searcher (the second entry of
//! `package.searchers`) with one that walks `package.path` as Lua does but
//! looks every `rom/...` name up beneath the rom directory with
//! [`ned_path::Beneath`], so neither `..` nor a symlink leads out of it.
//! Other templates are opened as plain files, as Lua would. Every source
//! goes through [`ned_path::script`] (byte-order mark, `#` first line).
//!
//! A module name `rom/x` is `<rom>/x.lua` and nothing else. A rom name
//! that is missing adds a `no file` line to require's message; one that
//! escapes, or cannot be opened for another reason, raises at once.

use std::path::{Path, PathBuf};

use mlua::{Lua, MultiValue, Table, Value};
use ned_path::{BeneathError, Dir};

/// What users call the directory in messages.
const WHAT: &str = "rom directory";

/// Raises a native's `false, message` as a plain string, as Lua's own
/// searchers do (lua/rom_searcher.lua).
pub(crate) const RAISE_AS_STRING: crate::Embedded = crate::embedded_lua!("rom_searcher.lua");

/// Puts ned's searcher, for the rom directory `rom`, in place of Lua's file
/// searcher.
pub(crate) fn install(lua: &Lua, rom: PathBuf) -> mlua::Result<()> {
    let package: Table = lua.globals().get("package")?;
    let searchers: Table = package.get("searchers")?;
    let native = lua.create_function(move |lua, name: String| match search(lua, &rom, name) {
        Ok(found) => {
            let mut v = found.into_vec();
            v.insert(0, Value::Boolean(true));
            Ok(MultiValue::from_vec(v))
        }
        Err(e) => lua.pack_multi((false, crate::fail::lua_message(&e))),
    })?;
    let error: Value = lua.globals().get("error")?;
    let searcher: mlua::Function = RAISE_AS_STRING.load(lua).call((native, error))?;
    searchers.raw_set(2, searcher)
}

/// One `package.searchers` entry: a loader and its file name, or the `no
/// file` lines of everything tried.
fn search(lua: &Lua, rom: &Path, name: String) -> mlua::Result<MultiValue> {
    let mut rom = Rom::new(rom);
    if let Some(rest) = name.strip_prefix("rom/") {
        let file = format!("{rest}.lua");
        return match rom.load(lua, &name, &file)? {
            Some(found) => Ok(found),
            None => lua.pack_multi(rom.missing(&file)),
        };
    }
    let path = match lua
        .globals()
        .get::<Table>("package")?
        .get::<Value>("path")?
    {
        Value::String(s) => s.to_str()?.to_owned(),
        _ => return Err(mlua::Error::runtime("'package.path' must be a string")),
    };
    let module = name.replace('.', "/");
    let mut tried = Vec::new();
    for template in path.split(';').filter(|t| !t.is_empty()) {
        let candidate = template.replace('?', &module);
        if let Some(file) = candidate.strip_prefix("rom/") {
            match rom.load(lua, &name, file)? {
                Some(found) => return Ok(found),
                None => tried.push(rom.missing(file)),
            }
            continue;
        }
        // Lua's own searcher takes any file it cannot read as missing.
        match ned_path::script::read(Path::new(&candidate)) {
            Ok(src) => return loaded(lua, &name, &candidate, src),
            Err(_) => tried.push(format!("no file '{candidate}'")),
        }
    }
    lua.pack_multi(tried.join("\n\t"))
}

/// The rom directory, opened on first use within one search.
struct Rom<'a> {
    path: &'a Path,
    dir: Option<Dir>,
}

impl<'a> Rom<'a> {
    fn new(path: &'a Path) -> Rom<'a> {
        Rom { path, dir: None }
    }

    /// The loader for `file` in the rom, `None` when there is no such file.
    fn load(&mut self, lua: &Lua, name: &str, file: &str) -> mlua::Result<Option<MultiValue>> {
        let refuse = |e: BeneathError| {
            mlua::Error::runtime(format!("module '{name}': {}", crate::fail::chain(&e)))
        };
        let dir = match &mut self.dir {
            Some(dir) => &*dir,
            none => none.insert(Dir::open(self.path, WHAT).map_err(refuse)?),
        };
        match dir.beneath().read_script(file) {
            Ok(src) => {
                let shown = self.path.join(file);
                loaded(lua, name, &shown.display().to_string(), src).map(Some)
            }
            Err(BeneathError::NotFound { .. }) => Ok(None),
            Err(e) => Err(refuse(e)),
        }
    }

    fn missing(&self, file: &str) -> String {
        format!("no file '{file}' in {}", self.path.display())
    }
}

/// Compiles a found module; a syntax error is raised as Lua's searcher
/// words it.
fn loaded(lua: &Lua, name: &str, shown: &str, src: Vec<u8>) -> mlua::Result<MultiValue> {
    let f = lua
        .load(src)
        .set_name(format!("@{shown}"))
        .into_function()
        .map_err(|e| {
            mlua::Error::runtime(format!(
                "error loading module '{name}' from file '{shown}':\n\t{}",
                crate::fail::lua_message(&e)
            ))
        })?;
    lua.pack_multi((f, shown.to_owned()))
}
