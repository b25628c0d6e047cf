//! The `L4::Cap` userdata and the natives behind its methods.
//!
//! A cap userdata holds a [`Cap`] (object + rights). Its methods are not
//! defined here: `__index` looks them up in the per-type method tables that
//! lua/L4.lua builds (common methods first, then the type's own), so a method
//! the type lacks is `nil`, as upstream's dynamic typing has it.

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, MultiValue, Table, UserData, UserDataFields,
    UserDataMethods, Value,
};
use ned_core::cap::{Kind, Object};
use ned_core::log::Color;
use ned_core::object::Arg;
use ned_core::{Cap, Rights};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use crate::HostCell;
use crate::fail::{Args, Fail, Res, bad_arg, chain, type_err, type_name};

/// Registry key of the method tables built by L4.lua.
const METHODS_KEY: &str = "ned.L4.cap_methods";
/// Registry key of the weak-keyed table of the caps `__index` has seen,
/// with their types' method tables.
const KINDS_KEY: &str = "ned.L4.cap_kinds";

/// The `__index` of caps (see the module docs).
pub(crate) const INDEX_LUA: crate::Embedded = crate::embedded_lua!("cap_index.lua");

/// The table behind registry `key`, made on first use (with `__mode = k`
/// when `weak`): the tables L4.lua and every cap's `__index` share,
/// whichever of the two comes first.
fn shared_table(lua: &Lua, key: &str, weak: bool) -> mlua::Result<Table> {
    if let Some(t) = lua.named_registry_value::<Option<Table>>(key)? {
        return Ok(t);
    }
    let t = lua.create_table()?;
    if weak {
        // Made here, so no chunk needs a global (a runtime's state may
        // lack `setmetatable`).
        t.set_metatable(Some(lua.create_table_from([("__mode", "k")])?))?;
    }
    lua.set_named_registry_value(key, &t)?;
    Ok(t)
}

/// The method tables of `lua`'s caps, which L4.lua fills in.
pub fn methods_table(lua: &Lua) -> mlua::Result<Table> {
    shared_table(lua, METHODS_KEY, false)
}

/// The caps `__index` has seen, by cap (weakly), with their method tables:
/// L4.lua reads from it that a value is a cap without a call into Rust.
pub fn kinds_table(lua: &Lua) -> mlua::Result<Table> {
    shared_table(lua, KINDS_KEY, true)
}

/// A capability as a Lua value.
pub struct LuaCap(pub Cap);

/// Set by [`leave_descriptors_to_exit`].
static EXITING: AtomicBool = AtomicBool::new(false);

/// From now on a cap that is dropped and holds a descriptor-only object
/// ([`Object::is_descriptor_only`]) leaves the object, and so its
/// descriptor, to the kernel. For the process's last act only: closing the
/// state of a script that kept 10,000 dataspaces otherwise makes 10,000
/// `close` calls that the exit does anyway.
pub fn leave_descriptors_to_exit() {
    EXITING.store(true, Ordering::Relaxed);
}

impl Drop for LuaCap {
    fn drop(&mut self) {
        if EXITING.load(Ordering::Relaxed) && self.0.object.is_descriptor_only() {
            // The cap gives up its reference without dropping it: the
            // object (memory and descriptor) then lasts until the exit.
            static LEFT: LazyLock<Arc<Object>> = LazyLock::new(|| Arc::new(Object::Rm));
            std::mem::forget(std::mem::replace(&mut self.0.object, LEFT.clone()));
        }
    }
}

impl UserData for LuaCap {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.0.to_string()));
        methods.add_meta_function(MetaMethod::Eq, |_, (a, b): (AnyUserData, AnyUserData)| {
            let (Ok(a), Ok(b)) = (a.borrow::<LuaCap>(), b.borrow::<LuaCap>()) else {
                return Ok(false);
            };
            Ok(a.0.same_object(&b.0))
        });
    }

    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        // A Lua function: a method lookup then makes no call into Rust
        // (mlua's per-call work cost more than the lookup itself).
        fields.add_meta_field_with(MetaMethod::Index, |lua| {
            let kind_of = lua
                .create_function(|_, ud: AnyUserData| Ok(ud.borrow::<LuaCap>()?.0.kind().name()))?;
            INDEX_LUA
                .load(lua)
                .call::<Function>((methods_table(lua)?, kind_of, kinds_table(lua)?))
        });
    }
}

/// Caps are Lunatik shareable objects: a runtime can be handed one through
/// `resume` or an rcu table, and hand it back; the object is the same.
impl lunatik::Object for LuaCap {
    fn class(&self) -> &'static str {
        "cap"
    }
    fn socket(&self) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
        self.0
            .socket()
            .map(|r| r.map_err(|e| std::io::Error::other(chain(&e))))
    }
}

impl lunatik::ForeignClass for LuaCap {
    type Userdata = LuaCap;

    fn extract(ud: &AnyUserData) -> Option<Arc<Self>> {
        ud.borrow::<LuaCap>()
            .ok()
            .map(|c| Arc::new(LuaCap(c.0.clone())))
    }

    fn push(lua: &Lua, object: Arc<Self>) -> mlua::Result<Value> {
        push(lua, object.0.clone())
    }
}

/// The cap inside a value, if it is one.
pub fn cap_of(v: &Value) -> Option<Cap> {
    match v {
        Value::UserData(ud) => ud.borrow::<LuaCap>().ok().map(|c| c.0.clone()),
        _ => None,
    }
}

pub fn push(lua: &Lua, cap: Cap) -> mlua::Result<Value> {
    lua.create_userdata(LuaCap(cap)).map(Value::UserData)
}

/// Argument #n as a cap.
pub fn cap_arg(args: &Args<'_>, n: usize) -> Res<Cap> {
    cap_of(args.get(n)).ok_or_else(|| type_err(n, args.func, "capability", args.get(n)))
}

/// `cap:mode(x)`, `m(x)`, `rights(x)`.
pub fn mode(lua: &Lua, vals: MultiValue) -> Res<Value> {
    let args = Args::new("mode", vals, 1);
    let cap = cap_arg(&args, 0)?;
    let rights = match args.get(1) {
        Value::Nil if args.len() == 0 => return Ok(Value::Integer(cap.rights.0 as i64)),
        Value::String(s) => Rights::parse(&s.as_bytes()),
        Value::Integer(_) | Value::Number(_) => {
            let n = args.integer(1)?;
            let bits = u32::try_from(n)
                .ok()
                .filter(|b| *b <= 0xff)
                .ok_or_else(|| bad_arg(1, "mode", "rights out of range"))?;
            Rights::from_bits(bits)
        }
        other => return Err(type_err(1, "mode", "string or number", other)),
    };
    if rights == cap.rights {
        return Ok(args.get(0).clone());
    }
    Ok(push(lua, cap.with_rights(rights))?)
}

/// `cap:svr()`: the same object with `rwsdc`.
pub fn svr(lua: &Lua, vals: MultiValue) -> Res<Value> {
    let args = Args::new("svr", vals, 1);
    let cap = cap_arg(&args, 0)?;
    Ok(push(lua, cap.with_rights(Rights::SERVER))?)
}

/// `cap:is_valid()`: a cap userdata always names a live object.
pub fn is_valid(_: &Lua, vals: MultiValue) -> Res<bool> {
    let args = Args::new("is_valid", vals, 1);
    cap_arg(&args, 0).map(|_| true)
}

/// The type name of a cap (`"Namespace"`, ...).
pub fn kind(_: &Lua, vals: MultiValue) -> Res<&'static str> {
    let args = Args::new("type", vals, 0);
    Ok(cap_arg(&args, 1)?.kind().name())
}

/// The protocol numbers and type names `L4.cast` understands.
fn kind_for(v: &Value, args: &Args<'_>) -> Res<Kind> {
    let kind = match v {
        Value::Integer(_) | Value::Number(_) => match args.integer(1)? {
            0x4000 => Some(Kind::Dataspace),
            0x4001 => Some(Kind::Namespace),
            -13 => Some(Kind::Log),
            -14 => Some(Kind::Scheduler),
            -15 | 0x4004 => Some(Kind::Factory),
            -18 => Some(Kind::Irq),
            -20 => Some(Kind::Semaphore),
            0 => Some(Kind::Channel),
            0x4005 => Some(Kind::Rm),
            _ => None,
        },
        Value::String(s) => {
            let s = s.to_str()?;
            let name = s.rsplit("::").next().unwrap_or("");
            [
                Kind::Channel,
                Kind::Namespace,
                Kind::Factory,
                Kind::Dataspace,
                Kind::Log,
                Kind::Scheduler,
                Kind::Semaphore,
                Kind::Irq,
                Kind::Directory,
                Kind::File,
                Kind::Rm,
                Kind::Parent,
                Kind::Socket,
            ]
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
            .or((name == "Mem_alloc").then_some(Kind::Factory))
        }
        other => return Err(type_err(1, "cast", "number or string", other)),
    };
    kind.ok_or_else(|| bad_arg(1, "cast", "unknown protocol or type"))
}

/// `L4.cast(proto_or_name, cap)`: a new reference when the object has that
/// type, else `nil`.
pub fn cast(lua: &Lua, vals: MultiValue) -> Res<Value> {
    let args = Args::new("cast", vals, 0);
    let want = kind_for(args.get(1), &args)?;
    let cap = cap_arg(&args, 2)?;
    if cap.kind() != want {
        return Ok(Value::Nil);
    }
    Ok(push(lua, cap.with_rights(cap.rights))?)
}

/// `L4.Loader:new_channel()`.
pub fn new_channel(lua: &Lua, _: MultiValue) -> Res<Value> {
    let obj = Object::channel().map_err(|e| Fail::Msg(chain(&e)))?;
    Ok(push(lua, Cap::new(obj, Rights::READ))?)
}

/// `dir:query(name [, rights])` resolved at once: the file cap or nil.
pub fn dir_lookup(lua: &Lua, vals: MultiValue) -> Res<Value> {
    let args = Args::new("query", vals, 1);
    let dir = cap_arg(&args, 0)?;
    let name = args.string(1)?;
    match dir
        .query_file(&name)
        .map_err(|e| Fail::Msg(format!("query: {}", chain(&e))))?
    {
        Some(cap) => Ok(push(lua, cap)?),
        None => Ok(Value::Nil),
    }
}

fn namespace_of<'c>(
    cap: &'c Cap,
    func: &str,
) -> Res<&'c std::sync::Mutex<std::collections::BTreeMap<String, Cap>>> {
    match &*cap.object {
        Object::Namespace(map) => Ok(map),
        _ => Err(bad_arg(0, func, "namespace expected")),
    }
}

/// `ns` entry read: the stored cap (its stored rights) or nil.
pub fn ns_get(lua: &Lua, vals: MultiValue) -> Res<Value> {
    let args = Args::new("query", vals, 1);
    let ns = cap_arg(&args, 0)?;
    let name = args.string(1)?;
    let map = namespace_of(&ns, "query")?;
    let found = map.lock().map_err(poisoned)?.get(&name).cloned();
    match found {
        Some(cap) => Ok(push(lua, cap)?),
        None => Ok(Value::Nil),
    }
}

/// `ns` entry write: a cap stores it, nil unlinks.
pub fn ns_set(_: &Lua, vals: MultiValue) -> Res<()> {
    let args = Args::new("register", vals, 1);
    let ns = cap_arg(&args, 0)?;
    let name = args.string(1)?;
    ned_core::object::check_entry_name(&name).map_err(|(_, m)| bad_arg(1, "register", m))?;
    let value = match args.get(2) {
        Value::Nil => None,
        v => Some(cap_of(v).ok_or_else(|| type_err(2, "register", "capability", v))?),
    };
    let map = namespace_of(&ns, "register")?;
    let mut map = map.lock().map_err(poisoned)?;
    match value {
        Some(cap) => map.insert(name, cap),
        None => map.remove(&name),
    };
    Ok(())
}

/// The names in a namespace, sorted.
pub fn ns_names(_: &Lua, vals: MultiValue) -> Res<Vec<String>> {
    let args = Args::new("names", vals, 1);
    let ns = cap_arg(&args, 0)?;
    let map = namespace_of(&ns, "names")?;
    Ok(map.lock().map_err(poisoned)?.keys().cloned().collect())
}

fn poisoned<T>(_: T) -> Fail {
    Fail::Msg("namespace lock poisoned".into())
}

/// A script value as an argument of `create` (ned-core's [`Arg`]).
pub fn arg_of(v: &Value) -> Arg {
    match v {
        Value::Nil => Arg::Nil,
        Value::Integer(i) => Arg::Int(*i),
        Value::Number(f) => match lunatik::integer_of(v) {
            Ok(i) => Arg::Int(i),
            Err(_) => Arg::Num(*f),
        },
        Value::String(s) => Arg::Str(s.as_bytes().to_vec()),
        other => match cap_of(other) {
            Some(c) => Arg::Cap(c),
            None => Arg::Other(type_name(other)),
        },
    }
}

/// The tag and colour of a log sink (see [`ned_core::object::log_spec`]),
/// from script values.
pub fn log_spec(tag: &Value, color: &Value, default_tag: &str) -> Result<(String, Color), String> {
    ned_core::object::log_spec(&arg_of(tag), &arg_of(color), default_tag)
}

/// `cap:create(proto, ...)` (spec §7): on ned's own factories made here; on
/// a channel forwarded to its server, waiting (bounded) for the answer.
pub fn create(host: &HostCell, lua: &Lua, vals: MultiValue) -> Res<Value> {
    // Upstream reads arguments up to the first nil: `create(P.Scheduler,
    // 10, 0, nil)` is `create(P.Scheduler, 10, 0)`.
    let args = Args::new("create", vals, 1).until_nil();
    let fab = cap_arg(&args, 0)?;
    create_on(host, lua, &fab, &args)
}

/// [`create`] on `fab`, a cap already (L4.lua calls this one for a `self`
/// it knows to be a cap); `vals` are the arguments after `self`. Borrowing
/// the cap from the Lua stack spares a value reference and a second lock
/// of the state per call.
pub fn create_on_cap(host: &HostCell, lua: &Lua, fab: &Cap, vals: MultiValue) -> Res<Value> {
    create_on(host, lua, fab, &Args::new("create", vals, 0).until_nil())
}

/// The work of [`create`] once the factory is known; `args` are cut at the
/// first nil and number the protocol #1.
fn create_on(host: &HostCell, lua: &Lua, fab: &Cap, args: &Args<'_>) -> Res<Value> {
    let proto = args.integer(1)?;
    let rest: Vec<Arg> = args.rest(2).iter().map(arg_of).collect();
    let made = match &*fab.object {
        Object::Channel(_) => host.with(|h| h.sup.forward_create(fab, proto, &rest))?,
        _ => ned_core::object::create(fab, proto, &rest).map(|o| Cap::new(o, Rights::READ)),
    };
    match made {
        Ok(cap) => Ok(push(lua, cap)?),
        Err(e) => Err(Fail::Code(e.msg, i64::from(e.code))),
    }
}

/// `ns:query(name)()` found nothing: wait (bounded) while a task could
/// still register the name (see `Supervisor::wait_for_name`).
pub fn ns_wait(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<()> {
    let args = Args::new("query", vals, 1);
    let ns = cap_arg(&args, 0)?;
    let name = args.string(1)?;
    host.with(|h| h.sup.wait_for_name(&ns, &name))
}

/// `rm` and `parent` have no Linux object: every method says so.
pub fn unsupported(_: &Lua, vals: MultiValue) -> Res<()> {
    let args = Args::new("method", vals, 0);
    let what = args.string(1).unwrap_or_default();
    Err(Fail::Msg(format!("{what} is not supported on Linux")))
}
