//! Lunatik runtimes for ned: isolated Lua states living inside the ned
//! process, sharing data only through reference-counted shareable objects
//! (runtimes, rcu tables, `data`, `fifo`, `completion`, and — through
//! [`register_class`] — any class another crate adds, such as ned's caps).
//!
//! Layout: Lua-free cores ([`rcu`], [`fifo`], [`completion`], [`data`],
//! [`object`], [`stats`]) and a Lua layer ([`lua`], one file per Lua class).
//! [`register`] installs the seven modules (`lunatik`, `rcu`, `thread`,
//! `data`, `fifo`, `completion`, `set`) as lazy `package.preload` entries;
//! nothing is built until a script `require`s it.
//!
//! See `docs/lunatik.md` for the Lua API.

pub mod completion;
pub mod data;
pub mod error;
pub mod fifo;
pub mod lua;
pub mod object;
pub mod rcu;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

pub use error::{Raise, message};
pub use lua::args::{Args, NotInteger, integer_of, type_name};
pub use lua::class::{
    ForeignClass, Handle, LuaClass, Method, extract, push_object, register_class, register_foreign,
};
pub use lua::runtime::{Limits, Runtime};
pub use lua::{close, function};
pub use object::{Object, ObjectRef, Shared};
pub use stats::{Stats, stats};

/// Default instruction budget of one call into a non-sleepable runtime.
pub const DEFAULT_INSTRUCTION_BUDGET: u64 = 5_000_000;

/// A host's "give control back" check (ned: a shutdown signal is waiting).
/// Runtimes call it from their instruction hook — every 2^20 instructions in
/// sleepable runtimes, every 2^20 budget steps' worth in non-sleepable ones —
/// and raise `interrupted by a shutdown signal` when it returns true, so a
/// runaway body cannot keep the host from its own loop.
#[derive(Clone)]
pub struct Interrupt(pub Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupt")
    }
}

/// How runtimes are made.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory scripts are looked up in (`--lua-root`).
    pub lua_root: PathBuf,
    /// Memory limit of every runtime state, in bytes (`None`: unlimited).
    pub memory_limit: Option<usize>,
    /// Instructions one call into a non-sleepable runtime may execute.
    pub instruction_budget: u64,
    /// The host's interrupt check, if any (see [`Interrupt`]).
    pub interrupt: Option<Interrupt>,
    /// The Lua root, opened once for every runtime made from this config.
    pub root_dir: RootDir,
}

/// The opened Lua root, kept so creating a runtime costs one `openat2` and
/// not an extra open and close of the root (leave it at its default). The
/// root is opened when the first runtime is made and kept: a directory
/// later moved to its path is not seen.
#[derive(Clone, Debug, Default)]
pub struct RootDir(Arc<Mutex<Option<Arc<ned_path::Dir>>>>);

impl RootDir {
    /// The root opened from `path`, from the cache when it holds that path
    /// (a config cloned with another `lua_root` replaces it).
    pub(crate) fn get(&self, path: &Path) -> Result<Arc<ned_path::Dir>, ned_path::BeneathError> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = &*slot
            && dir.beneath().path() == path
        {
            return Ok(dir.clone());
        }
        let dir = Arc::new(ned_path::Dir::open(path, "Lua root")?);
        *slot = Some(dir.clone());
        Ok(dir)
    }
}

impl Config {
    /// Defaults with the given root.
    pub fn new(lua_root: impl Into<PathBuf>) -> Self {
        Config {
            lua_root: lua_root.into(),
            ..Config::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lua_root: PathBuf::from("."),
            memory_limit: None,
            instruction_budget: DEFAULT_INSTRUCTION_BUDGET,
            interrupt: None,
            root_dir: RootDir::default(),
        }
    }
}

/// Install `lunatik`, `rcu`, `thread`, `data`, `fifo`, `completion` as
/// `package.preload` entries of a sleepable main state (lazy: nothing is
/// built until required).
pub fn register(lua: &mlua::Lua, config: Config) -> mlua::Result<()> {
    lua::install(lua, Arc::new(config), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_opened_once_and_per_path() {
        let c1 = Config::new("/");
        let d1 = c1.root_dir.get(&c1.lua_root).expect("open /");
        assert!(Arc::ptr_eq(
            &d1,
            &c1.root_dir.get(&c1.lua_root).expect("again")
        ));
        // A clone shares the cache, but another root is not served from it.
        let c2 = Config {
            lua_root: PathBuf::from("/proc"),
            ..c1.clone()
        };
        let d2 = c2.root_dir.get(&c2.lua_root).expect("open /proc");
        assert_eq!(d2.beneath().path(), Path::new("/proc"));
        assert!(!Arc::ptr_eq(&d1, &d2));
        let err = Config::new("/nonexistent/root")
            .root_dir
            .get(Path::new("/nonexistent/root"))
            .expect_err("no such root");
        assert_eq!(
            err.to_string(),
            "failed to open the Lua root /nonexistent/root"
        );
    }
}
