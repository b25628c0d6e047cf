//! Lunatik runtimes for ned: isolated Lua states living inside the ned
//! process, sharing data only through reference-counted shareable objects
//! (runtimes, rcu tables, `data`, `fifo`, `completion`, and — through
//! [`register_class`] — any class another crate adds, such as ned's caps).
//!
//! Layout: Lua-free cores ([`rcu`], [`fifo`], [`completion`], [`data`],
//! [`object`], [`stats`]) and a Lua layer ([`lua`], one file per Lua class).
//! [`register`] installs the six modules as lazy `package.preload` entries;
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

use std::path::PathBuf;
use std::sync::Arc;

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
        }
    }
}

/// Install `lunatik`, `rcu`, `thread`, `data`, `fifo`, `completion` as
/// `package.preload` entries of a sleepable main state (lazy: nothing is
/// built until required).
pub fn register(lua: &mlua::Lua, config: Config) -> mlua::Result<()> {
    lua::install(lua, Arc::new(config), true)
}
