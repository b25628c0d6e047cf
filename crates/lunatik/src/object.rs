//! Shareable objects, Lua-free: the [`Object`] trait every shareable class
//! implements, the reference-counted [`ObjectRef`] that rcu tables and
//! `resume` carry between states, and [`Shared`], the values that may cross.
//!
//! The Lua side of a class (its handle userdata and methods) lives in
//! `crate::lua::class`; this module never names mlua.

use std::any::{Any, TypeId};
use std::sync::Arc;

/// Lets an `Arc<dyn Object>` be turned back into its concrete type.
/// Implemented for every `Send + Sync + 'static` type; do not implement it.
pub trait AsAnyArc: Any + Send + Sync {
    /// The object as `Arc<dyn Any>`, for downcasting.
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// `TypeId` of the concrete type.
    fn concrete_type(&self) -> TypeId;
}

impl<T: Any + Send + Sync> AsAnyArc for T {
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn concrete_type(&self) -> TypeId {
        TypeId::of::<T>()
    }
}

/// An object that several runtimes (threads) may hold at once. Its lifetime
/// is the Rust `Arc`: each runtime only owns a handle.
pub trait Object: AsAnyArc {
    /// Class name as Lua sees it (`"runtime"`, `"rcu"`, `"data"`, ...).
    fn class(&self) -> &'static str;
    /// A `"single"` object belongs to the state that made it and refuses to
    /// cross into another runtime or into an rcu table.
    fn is_single(&self) -> bool {
        false
    }
    /// A socket of this object for `socket.from`, when it has one (ned's
    /// channel and socket caps): a new descriptor the caller owns.
    fn socket(&self) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
        None
    }
}

/// A counted reference to some shareable object.
#[derive(Clone)]
pub struct ObjectRef(Arc<dyn Object>);

impl ObjectRef {
    /// Wraps a concrete object.
    pub fn new<T: Object>(object: Arc<T>) -> Self {
        ObjectRef(object)
    }

    /// Class name of the object.
    pub fn class(&self) -> &'static str {
        self.0.class()
    }

    /// See [`Object::is_single`].
    pub fn is_single(&self) -> bool {
        self.0.is_single()
    }

    /// See [`Object::socket`].
    pub fn socket(&self) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
        self.0.socket()
    }

    /// `TypeId` of the concrete object type.
    pub fn concrete_type(&self) -> TypeId {
        (*self.0).concrete_type()
    }

    /// The concrete object, when it is a `T`.
    pub fn downcast<T: Object>(&self) -> Option<Arc<T>> {
        self.0.clone().into_any_arc().downcast::<T>().ok()
    }

    /// Whether both refer to the same object.
    pub fn same(&self, other: &ObjectRef) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }

    /// Address of the object, for `__tostring`.
    pub fn addr(&self) -> *const () {
        Arc::as_ptr(&self.0) as *const ()
    }
}

impl std::fmt::Debug for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {:p}", self.class(), self.addr())
    }
}

/// A value that may leave one Lua state and enter another: copied scalars
/// and strings, or a new handle to the same shareable object.
#[derive(Clone, Debug)]
pub enum Shared {
    /// `nil`
    Nil,
    /// a boolean
    Bool(bool),
    /// an integer
    Int(i64),
    /// a float
    Num(f64),
    /// a byte string (copied)
    Str(Arc<[u8]>),
    /// a shareable object (shared)
    Object(ObjectRef),
}
