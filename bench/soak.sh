#!/usr/bin/env bash
# Soak (issue 16, point 3; not run in CI): one ned serving `--control` for
# DURATION seconds (default 3600) under random starts, kills (through the
# prompt and with SIGKILL from outside), restarts, prompt commands and log
# floods. Every minute it prints ned's RSS, its main Lua state's heap, fd
# count, CPU seconds and zombie children; at the end one PASS/FAIL line:
#
#   PASS when, after the load stops and the script's garbage is collected,
#   ned's fd count is at most FD_TOL (default 2: writer threads ned starts
#   lazily, e.g. for its first stderr line) above its count before the load,
#   its RSS is at most RSS_TOL_KB (default 1024 KiB) above the warm-up
#   sample, no child of ned is a zombie, every exit handler ran once, and
#   ned exits 0 on SIGTERM.
#
# Warm-up: ned's bounded buffers fill during the first minutes and then stay
# (docs/soak.md): the boot timeline's 2,000 rows (about 6 starts a second
# here), the console queue a flood grows (at most 2 MiB), the control
# socket's read buffer. The warm-up sample is the first one at or after
# WARMUP seconds (default 600; at most half of DURATION), taken after a
# garbage collection; the summary also gives the growth after it per hour.
#
# Usage: DURATION=300 bash bench/soak.sh   (NED=path/to/ned to pick a build;
# default: $CARGO_TARGET_DIR or target, debug build, built if missing.)
set -u
DURATION=${DURATION:-3600}
RSS_TOL_KB=${RSS_TOL_KB:-1024}
FD_TOL=${FD_TOL:-2}
WARMUP=${WARMUP:-600}
[ "$WARMUP" -le $((DURATION / 2)) ] || WARMUP=$((DURATION / 2))
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${NED:-${CARGO_TARGET_DIR:-$here/target}/debug/ned}
if [ ! -x "$bin" ]; then
    (cd "$here" && cargo build --bins) || exit 2
fi
prompt=$(dirname "$bin")/ned-prompt
work=$(mktemp -d /tmp/ned-soak.XXXXXX)
trap 'kill "$ned" 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/boot.lua" <<'EOF'
L4 = require("L4"); L = L4.default_loader
-- A handler finds its task in `live` the first time only (no table that
-- grows with every task: it would be the script's growth, not ned's).
live, twice, started, handled, n = {}, 0, 0, 0, 0
local function watch(t, i)
  t:exit_handler(function()
    if live[i] == nil then twice = twice + 1 end
    handled = handled + 1; live[i] = nil
  end)
  live[i] = t
end
function start_one()
  n = n + 1; started = started + 1
  watch(L:startv({ log = { "s" .. (n % 50) } }, "/bin/sh", "-c", "echo up; exec sleep " .. math.random(1, 120)), n)
end
function kill_one()
  for _, t in pairs(live) do t:kill(); return end
end
function restart_one()
  kill_one(); start_one()
end
function flood(lines)
  n = n + 1; started = started + 1
  watch(L:startv({ log = { "flood" } }, "/usr/bin/seq", "1", tostring(lines)), n)
end
function count()
  local c = 0
  for _ in pairs(live) do c = c + 1 end
  return c
end
EOF
"$bin" --control "$work/c.sock" "$work/boot.lua" >/dev/null 2>"$work/ned.err" &
ned=$!
p() { "$prompt" --connect "$work/c.sock" -e "$1" 2>>"$work/prompt.err"; }
for _ in $(seq 100); do [ "$(p "return 1")" = 1 ] && break; sleep 0.1; done
[ "$(p "return 1")" = 1 ] || { echo "FAIL: ned does not answer"; exit 1; }

zombies() { grep -ls "^PPid:[[:space:]]*$ned\$" /proc/[0-9]*/status 2>/dev/null | xargs -r grep -l "^State:[[:space:]]*Z" 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$ned/status"; }
fds() { ls "/proc/$ned/fd" | wc -l; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz}' "/proc/$ned/stat"; }
sample() {
    printf '%6s  rss %6s KiB  lua %6s KiB  fds %4s  cpu %8s s  zombies %s  live tasks %s\n' \
        "$1" "$(rss)" "$(p "return math.floor(collectgarbage('count'))")" "$(fds)" "$(cpu)" "$(zombies)" "$(p "return count()")"
}

start=$(date +%s)
next=$((start + 60))
base_rss= base_at= base_fds=$(fds) errors=0
while :; do
    now=$(date +%s)
    [ $((now - start)) -ge "$DURATION" ] && break
    if ! kill -0 "$ned" 2>/dev/null; then echo "FAIL: ned died"; cat "$work/ned.err"; exit 1; fi
    live=$(p "return count()") || { errors=$((errors + 1)); live=0; }
    case $((RANDOM % 6)) in
        0|1) [ "$live" -lt 60 ] && p "start_one()" ;;
        2) p "kill_one()" ;;
        3) p "restart_one()" ;;
        4) [ $((RANDOM % 8)) = 0 ] && p "flood(50000)" ;;
        5) victim=$(pgrep -P "$ned" | shuf -n 1); [ -n "$victim" ] && kill -KILL "$victim" 2>/dev/null ;;
    esac
    if [ "$now" -ge "$next" ]; then
        sample "$((now - start))s"
        if [ -z "$base_rss" ] && [ $((now - start)) -ge "$WARMUP" ]; then
            p "collectgarbage()" >/dev/null
            base_rss=$(rss) base_at=$((now - start))
            echo "warm-up sample at ${base_at}s: rss ${base_rss} KiB"
        fi
        # After a stall (ned or the machine), one sample, not one per minute missed.
        while [ "$next" -le "$now" ]; do next=$((next + 60)); done
    fi
    sleep 0.05
done

# Quiesce: stop every task, let the handlers run, collect.
p "for _, t in pairs(live) do t:kill() end"
for _ in $(seq 300); do [ "$(p "return count()")" = 0 ] && break; sleep 0.1; done
for _ in $(seq 50); do p "collectgarbage()" >/dev/null; [ "$(fds)" -le $((base_fds + FD_TOL)) ] && break; sleep 0.1; done
sample "end "
end_rss=$(rss) end_fds=$(fds) z=$(zombies)
stats=$(p "return started, handled, twice")
kill -TERM "$ned"; wait "$ned"; status=$?
base_rss=${base_rss:-$end_rss} base_at=${base_at:-$DURATION}
end_at=$(($(date +%s) - start))
per_hour=$(( (end_rss - base_rss) * 3600 / (end_at > base_at ? end_at - base_at : 1) ))
read -r started handled twice <<<"$stats"
verdict=PASS
[ "$end_fds" -le $((base_fds + FD_TOL)) ] || verdict=FAIL
[ $((end_rss - base_rss)) -le "$RSS_TOL_KB" ] || verdict=FAIL
[ "$z" = 0 ] || verdict=FAIL
[ "$started" = "$handled" ] && [ "$twice" = 0 ] || verdict=FAIL
[ "$status" = 0 ] || verdict=FAIL
grep -q panicked "$work/ned.err" && verdict=FAIL
echo "$verdict: ${DURATION}s; rss ${base_rss} KiB at ${base_at}s (warm-up) -> ${end_rss} KiB (tolerance ${RSS_TOL_KB}; ${per_hour} KiB/h after warm-up); fds ${base_fds} -> ${end_fds} (tolerance ${FD_TOL});" \
    "zombies ${z}; tasks started ${started}, handlers run ${handled}, twice ${twice}; prompt failures ${errors}; ned exit ${status}"
[ "$verdict" = PASS ]
