//! The boot timeline (issue 11 point 7, docs/timeline.md): `--timeline
//! FILE` at exit and `L4.timeline(path)` from Lua write an SVG that
//! rsvg-convert (Debian's librsvg2-bin, installed by .ci/run) renders, and
//! that names every start, its readiness, its restart and its end.

use crate::util::{Sandbox, path_str};

#[test]
fn timeline_is_written_at_exit_and_renders() {
    let sb = Sandbox::new();
    let svg = sb.root.join("boot.svg");
    let early = sb.root.join("early.svg");
    let src = format!(
        "local L4 = require('L4')\n\
         local sv = require('ned.supervise').new()\n\
         sv:add('database', {{ argv = {{ '/bin/sh', '-c', 'sleep 0.1; /usr/bin/systemd-notify --ready; sleep 0.3' }},\n\
           env = {{ notify = true }}, restart = 'never' }})\n\
         sv:add('crasher', {{ argv = {{ '/bin/sh', '-c', 'sleep 0.05; exit 2' }}, after = {{ 'database' }},\n\
           limit = 1, backoff = {{ initial = 10 }} }})\n\
         sv:start()\n\
         L4.timeline('{early}')\n",
        early = path_str(&early)
    );
    let s = sb.file("boot.lua", src);
    let out = sb.ned(&[
        "--wait-and-exit",
        "--timeline",
        path_str(&svg),
        path_str(&s),
    ]);
    out.ok().no_lua_error();
    let text = std::fs::read_to_string(&svg).expect("timeline written");
    for want in [
        "database [",
        "ready at",
        "crasher [",
        "crasher (restart 1) [",
        "exit 0",
        "exit 2",
        "ned boot timeline: 3 start(s)",
    ] {
        assert!(text.contains(want), "SVG lacks {want:?}:\n{text}");
    }
    // The Lua call drew the picture as it was then: one start.
    let early = std::fs::read_to_string(&early).expect("early timeline");
    assert!(
        early.contains("database [") && early.contains("running"),
        "{early}"
    );
    assert!(!early.contains("crasher"), "{early}");
    let png = sb.root.join("boot.png");
    let st = std::process::Command::new("rsvg-convert")
        .args([path_str(&svg), "-o", path_str(&png)])
        .status()
        .expect("rsvg-convert is needed (librsvg2-bin; .ci/run installs it)");
    assert!(st.success(), "rsvg-convert failed");
    let len = std::fs::metadata(&png).expect("png").len();
    assert!(len > 1000, "png of {len} bytes");
}

#[test]
fn a_bad_timeline_path_is_a_clear_error() {
    let sb = Sandbox::new();
    let out = sb.wait_and_exit(
        "local L4 = require('L4')\n\
         local ok, err = pcall(L4.timeline, '/nonexistent/dir/t.svg')\n\
         print(ok, err)\n\
         print(pcall(L4.timeline))\n",
    );
    out.ok().no_lua_error();
    out.stdout_has("false\t")
        .stdout_has(
            "timeline: failed to write the timeline to '/nonexistent/dir/t.svg': No such file",
        )
        .stdout_has("bad argument #1 to 'timeline'");
    let out = sb.ned(&["--exit", "--timeline", "/nonexistent/t.svg", "-e", "x = 1"]);
    out.ok()
        .stderr_has("ned: failed to write the timeline to '/nonexistent/t.svg'");
}
