#!/bin/bash
# Lunatik sockets (issue 14): two figures from one run.
#  - the "shared" key/value store of examples/shared.lua, served by a
#    runtime per connection on a ned channel, answering GETs sent one at a
#    time by a task in another process (bench/src/sock_bench.rs kv-get);
#    target >= 50,000 GETs/s;
#  - the round trip of 16 bytes to an echo server running in a runtime
#    (bench/lua/echo_unix.lua, socket.unix) against the same client talking
#    to a plain Rust echo server; medians of ROUNDS rounds, target ratio
#    <= 1.5;
#  - 8 writers x LINES lines through ned with a pass-through log hook (a
#    non-sleepable runtime resumed for every line, bench/lua/passthrough.lua),
#    and with the same hook in batch mode (resumed once per pipe read),
#    each against the same run without a hook; target ratio <= 1.5.
#
# Usage: bench/lunatik.sh   (GETS=100000 TRIPS=20000 ROUNDS=5 LINES=200000)
source "$(dirname "$0")/common.sh"
build_ned
SOCK_BENCH=$TARGET/release/sock-bench
gets=${GETS:-100000}
trips=${TRIPS:-20000}
rounds=${ROUNDS:-5}

cat >"$WORK/kv.lua" <<LUA
local L4, lunatik, thread = require("L4"), require("lunatik"), require("thread")
local ch = L4.default_loader:new_channel()
local daemon = lunatik.runtime("shared/daemon")
local server = thread.run(daemon, "shared", ch:svr())
local t = L4.default_loader:startv({ caps = { store = ch }, log = { "kv" } }, "$SOCK_BENCH", "kv-get", "$gets")
t:exit_handler(function() server:stop(); daemon:stop() end)
LUA
cat >"$WORK/echo.lua" <<LUA
local L4, lunatik, thread, completion = require("L4"), require("lunatik"), require("thread"), require("completion")
local path, bound = "$WORK/echo.sock", completion.new()
local rt = lunatik.runtime("echo_unix")
local server = thread.run(rt, "echo", path, bound)
assert(bound:wait(5000), "echo server did not start")
local t = L4.default_loader:startv({ log = { "echo" } }, "$SOCK_BENCH", "echo-client", path, "$trips")
t:exit_handler(function() server:stop(); rt:stop() end)
LUA

need_tools hyperfine:hyperfine
prog=$(build_c static-lines)
lines=${LINES:-200000}
cat >"$WORK/logs.lua" <<'LUA'
local L4, lunatik = require("L4"), require("lunatik")
local prog, lines, mode = arg[1], arg[2], arg[3]
if mode == "hook" then L4.log_hook(lunatik.runtime("passthrough", "softirq")) end
if mode == "batch" then L4.log_hook(lunatik.runtime("passthrough", "softirq"), { batch = true }) end
for i = 1, 8 do
  L4.default_loader:startv({ log = { "w" .. i, "g" } }, prog, "w" .. i, lines)
end
LUA

rates=() ned_rtt=() base_rtt=()
for r in $(seq "$rounds"); do
	out=$("$NED" --wait-and-exit --lua-root "$ROOT/examples" "$WORK/kv.lua") || die "kv run failed: $out"
	rates+=("$(sed -n 's/^kv *| gets\/s: //p' <<<"$out")")
	out=$("$NED" --wait-and-exit --lua-root "$BENCH_DIR/lua" "$WORK/echo.lua") || die "echo run failed: $out"
	ned_rtt+=("$(sed -n 's/^echo *| median_rtt_ns: //p' <<<"$out")")
	"$SOCK_BENCH" echo-server "$WORK/base.sock" &
	for _ in $(seq 100); do [ -S "$WORK/base.sock" ] && break; sleep 0.01; done
	base_rtt+=("$("$SOCK_BENCH" echo-client "$WORK/base.sock" "$trips" | sed -n 's/^median_rtt_ns: //p')")
	wait
done
read -r rate ned base ratio < <(python3 - "${rates[*]}" "${ned_rtt[*]}" "${base_rtt[*]}" <<'PY'
import statistics as st, sys
rates, ned, base = ([float(x) for x in a.split()] for a in sys.argv[1:4])
print(f"{st.median(rates):.0f} {st.median(ned):.0f} {st.median(base):.0f} {st.median(n / b for n, b in zip(ned, base)):.3f}")
PY
)
logs="$NED --wait-and-exit --lua-root $BENCH_DIR/lua $WORK/logs.lua $prog $lines"
hyperfine -N --warmup 1 --runs "${RUNS:-5}" --output "$WORK/logs.out" --export-json "$WORK/hook.json" \
	-n hook "$logs hook" -n plain "$logs plain" >&2 || die "hyperfine failed"
[ "$(wc -l <"$WORK/logs.out")" -eq $((8 * lines)) ] || die "the hooked run lost lines"
read -r hook_s plain_s hook_ratio < <(median_ratio "$WORK/hook.json")
hyperfine -N --warmup 1 --runs "${RUNS:-5}" --output "$WORK/logs.out" --export-json "$WORK/batch.json" \
	-n batch "$logs batch" -n plain "$logs plain" >&2 || die "hyperfine failed"
[ "$(wc -l <"$WORK/logs.out")" -eq $((8 * lines)) ] || die "the batch-hooked run lost lines"
read -r batch_s bplain_s batch_ratio < <(median_ratio "$WORK/batch.json")
echo "lunatik: shared store $rate GETs/s; echo round trip ${ned} ns in a runtime, ${base} ns in plain Rust" >&2
result "shared store GETs/s (runtime per connection, client in another process)" "$rate/s" "—" "—" ">= 50000/s" "$(met "$rate" '>=' 50000)"
result "8 x $lines log lines through a pass-through log hook" "${hook_s} s" "${plain_s} s (no hook)" "$hook_ratio" "<= 1.5" "$(met "$hook_ratio" '<=' 1.5)"
result "8 x $lines log lines through a pass-through batch log hook (one resume per read)" "${batch_s} s" "${bplain_s} s (no hook)" "$batch_ratio" "<= 1.5" "$(met "$batch_ratio" '<=' 1.5)"
result "socket echo round trip from a runtime (median)" "${ned} ns" "${base} ns (plain Rust)" "$ratio" "<= 1.5" "$(met "$ratio" '<=' 1.5)"
