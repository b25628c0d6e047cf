#!/bin/bash
# Shutdown: SIGTERM to a serving ned with 500 `static-term` tasks (each
# takes 200 ms to exit after SIGTERM) until ned has exited, against the
# same with one task — the slowest single task's exit, through the same
# ned. Target (issue 11): <= 1.5x, i.e. ned stops its tasks in parallel and
# its own work (one /proc scan, 500 pidfds and groups signalled, 500 exits
# collected) stays small next to one task's stop time.
#
# Usage: bench/shutdown.sh   (ROUNDS=7 TASKS=500 STOP_MS=200 by default)
source "$(dirname "$0")/common.sh"
build_ned
build_c static-term
raise_nofile

tasks=${TASKS:-500}
cat >"$WORK/many.lua" <<LUA
local L4 = require('L4')
local n, prog, ms = tonumber(arg[1]), arg[2], arg[3]
for i = 1, n do
  L4.default_loader:startv({ log = { 't' .. i } }, prog, ms)
end
LUA

python3 - "$NED" "$WORK/many.lua" "$TARGET/bench/static-term" "${STOP_MS:-200}" \
	"$tasks" "${ROUNDS:-7}" >"$WORK/shutdown.out" <<'PY' || die "shutdown run failed"
import os, signal, statistics, subprocess, sys, time
ned, script, prog, ms, tasks, rounds = sys.argv[1:]
tasks, rounds = int(tasks), int(rounds)

def once(n):
    p = subprocess.Popen([ned, script, str(n), prog, ms], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
    up = 0
    for line in p.stdout:
        if line.endswith(b"| up\n"):
            up += 1
            if up == n:
                break
    if up != n:
        sys.exit(f"only {up} of {n} tasks came up")
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    p.stdout.read()
    code = p.wait()
    took = time.monotonic() - t0
    if code != 0:
        sys.exit(f"ned exited {code}")
    return took

one, many = [], []
for _ in range(rounds):
    one.append(once(1))
    many.append(once(tasks))
a, b = statistics.median(many), statistics.median(one)
print(a, b, a / b)
PY
read -r many one ratio <"$WORK/shutdown.out"
ok=$(met "$ratio" '<=' 1.5)
printf 'shutdown: %s tasks median %.0f ms, one task median %.0f ms, ratio %.2fx (target <= 1.5x): %s\n' \
	"$tasks" "$(python3 -c "print($many*1000)")" "$(python3 -c "print($one*1000)")" "$ratio" "$ok"
result "shutdown: SIGTERM to ned with $tasks tasks that take ${STOP_MS:-200} ms to stop, vs one" \
	"$(python3 -c "print(f'{$many*1000:.0f} ms')")" "$(python3 -c "print(f'{$one*1000:.0f} ms')")" \
	"$(python3 -c "print(f'{$ratio:.2f}×')")" "≤ 1.5×" "$ok"
