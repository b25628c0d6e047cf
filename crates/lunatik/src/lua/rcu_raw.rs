//! The fast read path of rcu tables: `t[k]` from Lua without mlua's
//! callback machinery and without the error-converting Lua wrapper.
//!
//! Every rcu handle made by [`push_object`](super::class::push_object) gets,
//! as its Lua user value, a small *reference* userdata of our own: a block
//! holding `Arc::into_raw` of the table, with a private metatable whose
//! `__gc` gives the `Arc` back. The handle's `__index` is the C function
//! [`index`], a closure with two upvalues: the reference metatable (to
//! recognise references) and the raw mlua binding of the generic read (the
//! slow path). A read with a string or integer key whose value is nil, a
//! boolean, a number or a string of at most [`INLINE`] bytes is served
//! entirely here: the key bytes are borrowed from the Lua string (integers
//! are formatted on the stack), the key is looked up under one epoch guard
//! of the table's map, and the value is pushed without cloning anything
//! shared. Anything else (objects, long strings, float keys, bad keys,
//! foreign handles) goes to the slow path, which raises errors with the
//! caller's position.
//!
//! Soundness rules kept by this file: Lua errors are `longjmp`s, so every
//! call that may raise (`lua_pushlstring`, `lua_call`, `lua_error`, ...) is
//! made while no Rust value with a destructor is alive in the frames it
//! jumps over; the map's guard is dropped before any such call.

use std::ffi::c_int;
use std::sync::Arc;

use mlua::ffi::{self, lua_State};
use mlua::{AnyUserData, Function, Lua};

use super::rcu::RcuTable;
use crate::object::Shared;

/// Longest string value pushed by the fast path (copied to the stack first).
const INLINE: usize = 128;
/// Registry name of the reference metatable.
const REF_MT: &std::ffi::CStr = c"lunatik.rcu.ref";
/// Upvalue of [`index`]: the reference metatable.
const UP_REF_MT: c_int = ffi::lua_upvalueindex(1);
/// Upvalue of [`index`]: the raw generic binding.
const UP_SLOW: c_int = ffi::lua_upvalueindex(2);

type RefBlock = *const RcuTable;

/// `__gc` of references: gives the table's `Arc` back (once).
unsafe extern "C-unwind" fn ref_gc(l: *mut lua_State) -> c_int {
    // SAFETY: only installed as `__gc` of the reference metatable, so
    // argument 1 is a reference block of `size_of::<RefBlock>()` bytes
    // written by `attach`, holding null or a pointer from `Arc::into_raw`.
    unsafe {
        let p = ffi::lua_touserdata(l, 1) as *mut RefBlock;
        if !p.is_null() && ffi::lua_rawlen(l, 1) == std::mem::size_of::<RefBlock>() {
            let raw = std::ptr::replace(p, std::ptr::null());
            if !raw.is_null() {
                let arc = Arc::from_raw(raw);
                // A panicking destructor must not unwind into Lua's C frames.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(arc)));
            }
        }
    }
    0
}

/// Pushes the reference metatable (creating it on first use).
///
/// # Safety
/// `l` is a valid state with 2 free stack slots, inside a protected call.
unsafe fn push_ref_mt(l: *mut lua_State) {
    // SAFETY: per the contract; `REF_MT` is NUL-terminated.
    unsafe {
        if ffi::luaL_newmetatable(l, REF_MT.as_ptr()) != 0 {
            ffi::lua_pushcfunction(l, ref_gc);
            ffi::lua_setfield(l, -2, c"__gc".as_ptr());
            ffi::lua_pushboolean(l, 0);
            ffi::lua_setfield(l, -2, c"__metatable".as_ptr());
        }
    }
}

/// Builds the `__index` closure of rcu handles around `slow`, the raw
/// (unwrapped) binding of the generic read.
pub(crate) fn index_function(lua: &Lua, slow: Function) -> mlua::Result<Function> {
    // SAFETY: the callback runs in a protected call with `slow` as the only
    // stack value; it only pushes values (nothing Rust-owned is alive if an
    // allocation error jumps out) and leaves exactly the closure.
    unsafe {
        lua.exec_raw(slow, |l| {
            push_ref_mt(l);
            ffi::lua_rotate(l, -2, 1); // [mt, slow]
            ffi::lua_pushcclosure(l, index, 2);
        })
    }
}

/// Gives handle `ud` its reference to `table` (see the module docs).
pub(crate) fn attach(lua: &Lua, ud: &AnyUserData, table: &Arc<RcuTable>) -> mlua::Result<()> {
    // SAFETY: runs protected with `ud` at index 1. Every call that may raise
    // (metatable lookup or creation, the block's allocation) comes first,
    // while the block holds null and nothing Rust-owned is alive; the
    // remaining calls cannot raise (`lua_setmetatable` and
    // `lua_setiuservalue` allocate nothing). The `Arc` is made and stored
    // last, once the block is reachable from `ud`, and from then on its
    // `__gc` owns it.
    unsafe {
        lua.exec_raw::<()>(ud, |l| {
            push_ref_mt(l); // [ud, mt]
            let block =
                ffi::lua_newuserdatauv(l, std::mem::size_of::<RefBlock>(), 0) as *mut RefBlock;
            block.write(std::ptr::null()); // [ud, mt, block]
            ffi::lua_rotate(l, -2, 1); // [ud, block, mt]
            ffi::lua_setmetatable(l, -2); // [ud, block]
            if ffi::lua_setiuservalue(l, 1, 1) != 0 {
                block.write(Arc::into_raw(table.clone()));
            }
            ffi::lua_settop(l, 0);
        })
    }
}

/// A value copied out of the map while its guard is held, to be pushed
/// after the guard is gone.
enum Found {
    Pushed,
    Str(usize),
    Slow,
}

/// The table behind handle argument 1, when it carries our reference.
///
/// # Safety
/// `l` is the state of a running C function with at least 2 free slots.
unsafe fn table_of(l: *mut lua_State) -> Option<*const RcuTable> {
    // SAFETY: stack operations within the guaranteed `LUA_MINSTACK` slots;
    // a userdata with our metatable and our block size is a reference block.
    unsafe {
        if ffi::lua_type(l, 1) != ffi::LUA_TUSERDATA {
            return None;
        }
        let mut out = None;
        // `lua_getiuservalue` always pushes; `lua_getmetatable` only on success.
        if ffi::lua_getiuservalue(l, 1, 1) == ffi::LUA_TUSERDATA
            && ffi::lua_getmetatable(l, -1) != 0
        {
            if ffi::lua_rawequal(l, -1, UP_REF_MT) != 0
                && ffi::lua_rawlen(l, -2) == std::mem::size_of::<RefBlock>()
            {
                let p = *(ffi::lua_touserdata(l, -2) as *const RefBlock);
                out = (!p.is_null()).then_some(p);
            }
            ffi::lua_pop(l, 1);
        }
        ffi::lua_pop(l, 1);
        out
    }
}

/// Formats `i` as Lua's `tostring` does into the end of `buf`.
fn int_key(i: i64, buf: &mut [u8; 24]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// The fast path; `None` sends the call to the slow path. Pushes at most
/// one value and never raises.
///
/// # Safety
/// As for [`table_of`]; the reference keeping the table alive stays
/// reachable from argument 1 for the whole call.
unsafe fn fast(l: *mut lua_State, value: &mut [u8; INLINE]) -> Option<Found> {
    // SAFETY: see `table_of`; `lua_tolstring` on a value of type string
    // neither converts nor allocates, and the bytes stay valid while the
    // string is on the stack (argument 2). Pushing nil, booleans and
    // numbers needs no allocation and cannot raise.
    unsafe {
        let table = &*table_of(l)?;
        let mut ibuf = [0u8; 24];
        let key: &[u8] = match ffi::lua_type(l, 2) {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(l, 2, &mut len);
                std::slice::from_raw_parts(p as *const u8, len)
            }
            ffi::LUA_TNUMBER if ffi::lua_isinteger(l, 2) != 0 => {
                int_key(ffi::lua_tointeger(l, 2), &mut ibuf)
            }
            _ => return None,
        };
        Some(table.map().read(key, |v| match v {
            None | Some(Shared::Nil) => {
                ffi::lua_pushnil(l);
                Found::Pushed
            }
            Some(Shared::Bool(b)) => {
                ffi::lua_pushboolean(l, c_int::from(*b));
                Found::Pushed
            }
            Some(Shared::Int(i)) => {
                ffi::lua_pushinteger(l, *i);
                Found::Pushed
            }
            Some(Shared::Num(n)) => {
                ffi::lua_pushnumber(l, *n);
                Found::Pushed
            }
            Some(Shared::Str(s)) if s.len() <= INLINE => {
                value[..s.len()].copy_from_slice(s);
                Found::Str(s.len())
            }
            Some(Shared::Str(_) | Shared::Object(_)) => Found::Slow,
        }))
    }
}

/// `__index` of rcu handles.
unsafe extern "C-unwind" fn index(l: *mut lua_State) -> c_int {
    let mut value = [0u8; INLINE];
    // Dropping the read guard inside `fast` may reclaim retired entries and
    // with them the last handle of a runtime, whose close runs Lua code of
    // its own; a panic there must not unwind into Lua's C frames, so it is
    // caught, the stack put back as it was and the lookup retried on the
    // slow path.
    // SAFETY: `l` is the running state (Lua calls this C function with it).
    let top = unsafe { ffi::lua_gettop(l) };
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: called by Lua as a C closure made by `index_function`, so
        // the upvalues are as `fast` expects.
        unsafe { fast(l, &mut value) }
    }))
    .unwrap_or_else(|_| {
        // SAFETY: `top` was this frame's stack height at entry.
        unsafe { ffi::lua_settop(l, top) };
        None
    });
    // SAFETY: as above; `fast` returned normally (its guard dropped), and
    // the calls below that may raise run with only plain data (`value`)
    // alive in this frame.
    unsafe {
        match found {
            Some(Found::Pushed) => 1,
            Some(Found::Str(n)) => {
                ffi::lua_pushlstring(l, value.as_ptr() as *const _, n);
                1
            }
            Some(Found::Slow) | None => slow(l),
        }
    }
}

/// Calls the raw generic binding with this call's arguments and raises its
/// error the way the Lua wrapper of [`super::function`] does.
///
/// # Safety
/// As for [`index`]; nothing with a destructor may be alive in the caller.
unsafe fn slow(l: *mut lua_State) -> c_int {
    // SAFETY: per the contract. The binding returns `true, v` or
    // `false, message, level`; 3 extra slots are checked for.
    unsafe {
        ffi::luaL_checkstack(l, 3, std::ptr::null());
        let n = ffi::lua_gettop(l);
        ffi::lua_pushvalue(l, UP_SLOW);
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, n, 3);
        if ffi::lua_toboolean(l, -3) != 0 {
            ffi::lua_settop(l, -2); // [.., true, v]
            return 1;
        }
        let located = ffi::lua_tointeger(l, -1) > 0;
        ffi::lua_settop(l, -2); // [.., false, msg]
        if located {
            ffi::luaL_where(l, 1);
            ffi::lua_rotate(l, -2, 1);
            ffi::lua_concat(l, 2);
        }
        ffi::lua_error(l)
    }
}

#[cfg(test)]
mod tests {
    use super::int_key;

    #[test]
    fn integer_keys_match_tostring() {
        let mut b = [0u8; 24];
        for i in [0i64, 1, -1, 42, i64::MAX, i64::MIN] {
            assert_eq!(int_key(i, &mut b), i.to_string().as_bytes());
        }
    }
}
