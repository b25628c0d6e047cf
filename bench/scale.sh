#!/bin/bash
# Scaling (issue 15 point 5): how ned's costs grow from 10 to 10,000 tasks.
# For each N: the time until one script has N live static-pause tasks
# running (its loop of startv returned: each start waits for the exec), ned's
# VmRSS with them and per task beyond an idle ned, the time from SIGTERM
# until ned and all N are gone, and N static-lines writers sharing 1,000,000
# lines through ned into a file (lines/s of the whole run, every line
# counted). Medians of RUNS runs (3). A size the machine cannot reach (fork
# or fd limits) gets a row saying where it stopped.
#
# Usage: bash bench/scale.sh [N...]   (10 100 1000 10000 by default)
source "$(dirname "$0")/common.sh"
build_ned
raise_nofile
ulimit -u unlimited 2>/dev/null || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000 10000)
python3 - "$NED" "$(build_c static-pause)" "$(build_c static-lines)" "$WORK" "${RUNS:-3}" \
	"${sizes[@]}" <<'PY' || die "scale run failed"
import os, signal, statistics as st, subprocess, sys, time
ned, pause, lines, work, runs = sys.argv[1:6]
runs, sizes = int(runs), [int(n) for n in sys.argv[6:]]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so `finally` kills ned
live = f"{work}/live.lua"
open(live, "w").write("""local L4 = require("L4")
for i = 1, tonumber(arg[2]) do
  local ok, err = pcall(L4.default_loader.startv, L4.default_loader, { log = { "t" .. i } }, arg[1])
  if not ok then
    print("live.lua: stopped at task " .. i .. ": " .. tostring(err))
    os.exit(1)
  end
end
print("live.lua: up")
""")
logs = f"{work}/logs.lua"
open(logs, "w").write("""local L4 = require("L4")
for i = 1, tonumber(arg[2]) do
  L4.default_loader:startv({ log = { "w" .. i } }, arg[1], "w" .. i, arg[3])
end
""")

def kb(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

def live_run(n):
    t0 = time.monotonic()
    p = subprocess.Popen([ned, live, pause, str(n)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for line in p.stdout:
            if line.endswith(b"live.lua: up\n"):
                break
            if b"live.lua: stopped" in line:
                raise RuntimeError(line.decode(errors="replace").strip())
        else:
            raise RuntimeError(f"ned exited {p.wait()} before all {n} were up")
        up = time.monotonic() - t0
        time.sleep(0.5 + n / 5000)
        kids = [int(c) for c in open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()]
        if len(kids) != n:
            raise RuntimeError(f"{len(kids)} of {n} children alive")
        rss = kb(p.pid, "VmRSS")
        t1 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.stdout.read()
        p.wait(60)
        while any(os.path.exists(f"/proc/{k}") for k in kids):
            time.sleep(0.001)
        return up, rss, time.monotonic() - t1
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()

def logs_run(n, each):
    out = f"{work}/out.txt"
    with open(out, "wb") as f:
        t0 = time.monotonic()
        code = subprocess.run([ned, "--wait-and-exit", logs, lines, str(n), str(each)],
                              stdout=f, stderr=subprocess.STDOUT).returncode
        took = time.monotonic() - t0
    got = open(out, "rb").read().count(b"a line of a log throughput test\n")
    if code != 0 or got != n * each:
        raise RuntimeError(f"ned exited {code}, {got} of {n * each} lines")
    return took

idle = st.median(live_run(0)[1] for _ in range(runs))
print(f"| tasks | all running | per task | ned VmRSS | per task beyond idle ned ({idle / 1024:.1f} MiB) | SIGTERM until all gone | 1,000,000 log lines from N writers | lines/s |")
print("|---|---|---|---|---|---|---|---|")
for n in sizes:
    try:
        r = [live_run(n) for _ in range(runs)]
        up, rss, down = (st.median(x[i] for x in r) for i in range(3))
        each = 1_000_000 // n
        lt = st.median(logs_run(n, each) for _ in range(runs))
        print(f"| {n:,} | {up * 1000:.1f} ms | {up / n * 1e6:.0f} µs | {rss / 1024:.1f} MiB | "
              f"{(rss - idle) / n:.2f} KiB | {down * 1000:.1f} ms | {lt * 1000:.0f} ms ({each:,} each) | "
              f"{n * each / lt / 1e6:.2f} M |", flush=True)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"| {n:,} | stopped: {e} | | | | | | |", flush=True)
PY
