//! Task behaviour that the Lua conformance script (tests/lua/tasks.lua)
//! cannot see from inside: `wait()` keeps the logs flowing, so a task that
//! writes megabytes while the script waits on it cannot deadlock.

use crate::util::Sandbox;

#[test]
fn wait_keeps_logs_flowing() {
    let sb = Sandbox::new();
    // ~6 MB from the waited task and ~6 MB from a bystander, far beyond a
    // pipe's 64 KiB: without pumping the logs inside wait(), both block.
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ld = L4.default_loader\n\
         local other = ld:start({ log = { 'other' } }, 'rom/probe --stdout-lines 400000')\n\
         local big = ld:start({ log = { 'big' } }, 'rom/probe --stdout-lines 400000 --exit 5')\n\
         print('waited', big:wait())\n\
         print('other', other:wait())\n",
    );
    out.ok()
        .no_lua_error()
        .stdout_has("waited\t5")
        .stdout_has("other\t0");
    for tag in ["big", "other"] {
        let lines = out.log(tag);
        assert_eq!(lines.len(), 400_001, "{tag}: JSON line + 400000 lines");
        assert_eq!(lines[400_000], "line 400000");
        assert!(
            lines[1..]
                .iter()
                .enumerate()
                .all(|(i, l)| *l == format!("line {}", i + 1))
        );
    }
}
