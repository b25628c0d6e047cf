//! `L4.Info`: what the machine is (spec §4). On Linux the KIP string is the
//! kernel release.

use mlua::{Lua, MultiValue};

use crate::fail::Res;

pub fn arch(_: &Lua, _: MultiValue) -> Res<&'static str> {
    Ok(match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm",
        "riscv64" => "riscv",
        other => other,
    })
}

pub fn platform(_: &Lua, _: MultiValue) -> Res<&'static str> {
    Ok("linux")
}

pub fn mword_bits(_: &Lua, _: MultiValue) -> Res<u32> {
    Ok(usize::BITS)
}

pub fn kip_str(_: &Lua, _: MultiValue) -> Res<String> {
    let uname = rustix::system::uname();
    Ok(uname.release().to_string_lossy().into_owned())
}
