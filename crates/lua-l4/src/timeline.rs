//! `L4.timeline(path)` and `ned --timeline FILE`: the boot timeline of
//! ned-core's [`ned_core::timeline`] written as an SVG file.

use std::path::Path;

use mlua::{Lua, MultiValue};

use crate::HostCell;
use crate::fail::{Args, Fail, Res};

/// Writes the timeline, drawn up to now, to `path`.
pub fn write(host: &HostCell, path: &Path) -> Result<(), String> {
    let svg = host
        .with(|h| h.sup.timeline_svg())
        .map_err(|_| "ned is closing its Lua state".to_owned())?;
    std::fs::write(path, svg)
        .map_err(|e| format!("failed to write the timeline to '{}': {e}", path.display()))
}

/// `core.timeline(path)`.
pub fn native(host: &HostCell, _: &Lua, vals: MultiValue) -> Res<bool> {
    let args = Args::new("timeline", vals, 0);
    let path = args.string(1)?;
    write(host, Path::new(&path)).map_err(|e| Fail::Msg(format!("timeline: {e}")))?;
    Ok(true)
}
