//! Shareable classes on the Lua side, and the extension point for new ones.
//!
//! Every shareable object type `T` (Lua-free, implementing
//! [`Object`](crate::Object)) gets a Lua handle type [`Handle<T>`]: a
//! userdata holding an `Arc<T>`, one per state that sees the object. A class
//! describes its methods through [`LuaClass`]; [`register_class`] records how
//! to take an object out of a handle and how to make a handle for it in
//! another state, which is all `resume`, rcu tables and `thread.run` need to
//! carry it.
//!
//! # Adding a class (e.g. ned's caps, from another crate)
//!
//! ```ignore
//! struct Cap { /* OwnedFd, rights ... */ }
//! impl lunatik::Object for Cap { fn class(&self) -> &'static str { "cap" } }
//! impl lunatik::LuaClass for Cap {
//!     const NAME: &'static str = "cap";
//!     fn methods() -> &'static [(&'static str, lunatik::Method<Self>)] {
//!         &[("rights", |_lua, cap, _args| Ok(/* ... */ Default::default()))]
//!     }
//! }
//! lunatik::register_class::<Cap>();            // once, before use
//! let ud = lunatik::push_object(&lua, Arc::new(Cap { .. }))?; // hand it to Lua
//! ```
//!
//! From then on a cap handle can be passed to `runtime:resume`, stored in an
//! rcu table (`lunatik._ENV.chan = cap`) and compared with `==`.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use mlua::{
    AnyUserData, Lua, MetaMethod, MultiValue, UserData, UserDataFields, UserDataMethods, Value,
};

use super::args::Args;
use crate::error::Raise;
use crate::object::{Object, ObjectRef, Shared};

/// A method of class `T`: receives the object and the other arguments
/// (numbered from 1, without `self`).
pub type Method<T> = fn(&Lua, &Arc<T>, Args) -> Result<MultiValue, Raise>;

/// The Lua face of a shareable class.
pub trait LuaClass: Object + Sized {
    /// Name shown by `tostring` and in `bad self` errors.
    const NAME: &'static str;
    /// Methods, called as `obj:name(...)`.
    fn methods() -> &'static [(&'static str, Method<Self>)] {
        &[]
    }
    /// Metamethods (`"__index"` replaces the method table, `"__newindex"`,
    /// `"__len"`, `"__call"`).
    fn metamethods() -> &'static [(&'static str, Method<Self>)] {
        &[]
    }
    /// Extra text for `tostring` (after `NAME: 0x...`).
    fn describe(&self) -> String {
        String::new()
    }
    /// Replaces the generated `__index` metamethod (`generic`, the binding
    /// of the `"__index"` entry of [`metamethods`](LuaClass::metamethods) or
    /// the method table) with a faster one. Rcu tables use it for their
    /// raw, lock-free read path; other classes keep the default.
    #[doc(hidden)]
    fn index_override(_lua: &Lua, generic: Value) -> mlua::Result<Value> {
        Ok(generic)
    }
    /// Called on every handle [`push_object`] makes, before it is handed to
    /// Lua (rcu tables attach their read-path reference here).
    #[doc(hidden)]
    fn attach(_lua: &Lua, _ud: &AnyUserData, _object: &Arc<Self>) -> mlua::Result<()> {
        Ok(())
    }
}

/// A state's handle on a shareable object.
pub struct Handle<T>(pub Arc<T>);

fn method_fn<T: LuaClass>(
    lua: &Lua,
    name: &'static str,
    m: Method<T>,
) -> mlua::Result<mlua::Function> {
    super::function(lua, name, method_body(name, m))
}

/// The unwrapped binding of method `m` (see [`super::raw_function`]).
pub(crate) fn raw_method_fn<T: LuaClass>(
    lua: &Lua,
    name: &'static str,
    m: Method<T>,
) -> mlua::Result<mlua::Function> {
    super::raw_function(lua, name, method_body(name, m))
}

fn method_body<T: LuaClass>(
    name: &'static str,
    m: Method<T>,
) -> impl Fn(&Lua, Args) -> Result<MultiValue, Raise> + Send + 'static {
    move |lua, mut args| {
        let this = args.pop_front();
        let ud = match &this {
            Some(Value::UserData(ud)) => ud.borrow::<Handle<T>>().ok(),
            _ => None,
        };
        match ud {
            Some(h) => m(lua, &h.0, args),
            None => Err(Raise::new(format!(
                "bad self to '{name}' ({} expected, got {})",
                T::NAME,
                this.as_ref().map_or("no value", super::args::type_name)
            ))),
        }
    }
}

fn index_value<T: LuaClass>(lua: &Lua) -> mlua::Result<Value> {
    if let Some((name, m)) = T::metamethods().iter().find(|(n, _)| *n == "__index") {
        let generic = method_fn::<T>(lua, name, *m).map(Value::Function)?;
        return T::index_override(lua, generic);
    }
    let t = lua.create_table()?;
    for (name, m) in T::methods() {
        t.raw_set(*name, method_fn::<T>(lua, name, *m)?)?;
    }
    T::index_override(lua, Value::Table(t))
}

impl<T: LuaClass> UserData for Handle<T> {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", index_value::<T>);
        for (name, m) in T::metamethods() {
            if *name != "__index" {
                let (name, m) = (*name, *m);
                fields.add_meta_field_with(name, move |lua| method_fn::<T>(lua, name, m));
            }
        }
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_function(MetaMethod::Eq, |_, (a, b): (AnyUserData, AnyUserData)| {
            Ok(match (extract(&a), extract(&b)) {
                (Some(x), Some(y)) => x.same(&y),
                _ => false,
            })
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "{}: {:p}{}",
                T::NAME,
                Arc::as_ptr(&this.0),
                this.0.describe()
            ))
        });
    }
}

type Extract = fn(&AnyUserData) -> Option<ObjectRef>;
type Push = fn(&Lua, &ObjectRef) -> mlua::Result<Value>;

#[derive(Clone, Default)]
struct Registry {
    extract: HashMap<TypeId, Extract>,
    push: HashMap<TypeId, Push>,
}

impl Registry {
    fn add<T: LuaClass>(&mut self) {
        self.extract
            .insert(TypeId::of::<Handle<T>>(), extract_fn::<T>);
        self.push.insert(TypeId::of::<T>(), push_fn::<T>);
    }
}

fn extract_fn<T: LuaClass>(ud: &AnyUserData) -> Option<ObjectRef> {
    ud.borrow::<Handle<T>>()
        .ok()
        .map(|h| ObjectRef::new(h.0.clone()))
}

fn push_fn<T: LuaClass>(lua: &Lua, o: &ObjectRef) -> mlua::Result<Value> {
    match o.downcast::<T>() {
        Some(a) => push_object(lua, a),
        None => Err(mlua::Error::runtime("object class mismatch")),
    }
}

/// Every shareable class. It knows none by itself: the module list in
/// `lua/mod.rs` registers the crate's own classes when the first state is
/// set up, other crates theirs with [`register_class`]/[`register_foreign`].
static REGISTRY: LazyLock<ArcSwap<Registry>> = LazyLock::new(ArcSwap::default);

/// Makes class `T` shareable: its handles may then cross runtimes. Calling it
/// again for the same class is harmless.
pub fn register_class<T: LuaClass>() {
    REGISTRY.rcu(|r| {
        let mut r = Registry::clone(r);
        r.add::<T>();
        r
    });
}

/// A shareable class whose Lua userdata is defined by another crate (ned's
/// caps: their userdata carries L4's own methods and `tostring`). lunatik
/// only needs to take the object out of such a userdata and to make one in
/// another state; everything else stays with the owning crate.
pub trait ForeignClass: Object + Sized {
    /// The userdata type that holds the object in a Lua state.
    type Userdata: 'static;
    /// The object inside `ud`, when `ud` is a [`Self::Userdata`].
    fn extract(ud: &AnyUserData) -> Option<Arc<Self>>;
    /// A new userdata for `object` in `lua`.
    fn push(lua: &Lua, object: Arc<Self>) -> mlua::Result<Value>;
}

fn foreign_extract<T: ForeignClass>(ud: &AnyUserData) -> Option<ObjectRef> {
    T::extract(ud).map(ObjectRef::new)
}

fn foreign_push<T: ForeignClass>(lua: &Lua, o: &ObjectRef) -> mlua::Result<Value> {
    match o.downcast::<T>() {
        Some(a) => {
            super::touch(lua);
            T::push(lua, a)
        }
        None => Err(mlua::Error::runtime("object class mismatch")),
    }
}

/// Makes the foreign class `T` shareable, like [`register_class`].
pub fn register_foreign<T: ForeignClass>() {
    REGISTRY.rcu(|r| {
        let mut r = Registry::clone(r);
        r.extract
            .insert(TypeId::of::<T::Userdata>(), foreign_extract::<T>);
        r.push.insert(TypeId::of::<T>(), foreign_push::<T>);
        r
    });
}

/// Creates a handle on `object` in `lua`.
pub fn push_object<T: LuaClass>(lua: &Lua, object: Arc<T>) -> mlua::Result<Value> {
    super::touch(lua);
    let ud = lua.create_userdata(Handle(object.clone()))?;
    T::attach(lua, &ud, &object)?;
    Ok(Value::UserData(ud))
}

/// The object behind a handle of any registered class.
pub fn extract(ud: &AnyUserData) -> Option<ObjectRef> {
    let t = ud.type_id()?;
    let f = *REGISTRY.load().extract.get(&t)?;
    f(ud)
}

/// Why a value cannot cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Tables, functions, coroutines, foreign userdata.
    Type(&'static str),
    /// A `"single"` object.
    Single,
}

impl Refusal {
    /// As an argument error of `func`.
    pub(crate) fn arg(self, n: usize, func: &str) -> Raise {
        match self {
            Refusal::Type(t) => Raise::arg(n, func, format!("{t} cannot be shared")),
            Refusal::Single => Raise::new("cannot share SINGLE object"),
        }
    }
}

/// Copies `v` out of its state.
pub(crate) fn to_shared(v: &Value) -> Result<Shared, Refusal> {
    Ok(match v {
        Value::Nil => Shared::Nil,
        Value::Boolean(b) => Shared::Bool(*b),
        Value::Integer(i) => Shared::Int(*i),
        Value::Number(n) => Shared::Num(*n),
        Value::String(s) => Shared::Str(Arc::from(&*s.as_bytes())),
        Value::UserData(ud) => match extract(ud) {
            Some(o) if o.is_single() => return Err(Refusal::Single),
            Some(o) => Shared::Object(o),
            None => return Err(Refusal::Type("userdata")),
        },
        other => return Err(Refusal::Type(other.type_name())),
    })
}

/// Makes `s` a value of `lua`.
pub(crate) fn from_shared(lua: &Lua, s: &Shared) -> mlua::Result<Value> {
    Ok(match s {
        Shared::Nil => Value::Nil,
        Shared::Bool(b) => Value::Boolean(*b),
        Shared::Int(i) => Value::Integer(*i),
        Shared::Num(n) => Value::Number(*n),
        Shared::Str(b) => Value::String(lua.create_string(b)?),
        Shared::Object(o) => {
            let push = REGISTRY.load().push.get(&o.concrete_type()).copied();
            match push {
                Some(f) => f(lua, o)?,
                None => {
                    return Err(mlua::Error::runtime(format!(
                        "class '{}' is not registered",
                        o.class()
                    )));
                }
            }
        }
    })
}
