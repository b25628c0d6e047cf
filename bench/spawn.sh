#!/bin/bash
# Spawn: ned starts and reaps 2,000 short-lived static programs from one
# script, an exit handler each (the Lua script below), against spawn-baseline
# (plain posix_spawn + waitpid) doing the same; both keep 64 children in
# flight. Target (issue 3): ned <= 1.3x the baseline's wall time.
# A second, informational run starts all 2,000 at once from the script.
# A third compares starting the same tasks as clients of one channel (each
# gets its own connection, spec §5) with starting them with no caps, both
# through ned in the same paired rounds. Target (issue 8): <= 1.05x.
# The 2,000 connections wait in the channel's backlog (nobody accepts).
#
# Timing: ROUNDS paired hyperfine rounds of RUNS runs each (see
# paired_rounds in common.sh); the ratio is the median of the rounds' ratios.
#
# Usage: bench/spawn.sh   (N=2000 ROUNDS=5 RUNS=10 by default)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine
build_ned
raise_nofile
prog=$(build_c static-true)
cat >"$WORK/spawn.lua" <<'LUA'
-- bench/spawn.lua PROGRAM N [WINDOW [channel]]: starts N tasks of PROGRAM,
-- each with an exit handler, and lets ned reap them; run with
-- `ned --wait-and-exit`. WINDOW > 0 keeps at most WINDOW tasks alive (each
-- handler starts the next one), the same shape as spawn-baseline; WINDOW =
-- 0 starts all N at once. `channel`: each task is a client of one channel.
local L4 = require("L4")
local prog, n, window = arg[1], tonumber(arg[2]), tonumber(arg[3] or "64")
local ld = L4.default_loader
local caps = arg[4] == "channel" and { svc = ld:new_channel() } or nil
local started, done, failed = 0, 0, 0

local start_one
local function on_exit(code)
  done = done + 1
  if code ~= 0 then failed = failed + 1 end
  if window > 0 and started < n then start_one() end
  if done == n then print("spawn.lua: done " .. done .. " failed " .. failed) end
end

function start_one()
  started = started + 1
  ld:startv({ log = { "t", "w" }, caps = caps }, prog):exit_handler(on_exit)
end

local first = window > 0 and math.min(window, n) or n
for _ = 1, first do start_one() end
LUA
n=${N:-2000}

# One checked run first: every task must have started, exited 0 and had its
# handler run, in both shapes.
for shape in "64" "0" "64 channel"; do
	# shellcheck disable=SC2086 # $shape is two words on purpose
	out=$("$NED" --wait-and-exit "$WORK/spawn.lua" "$prog" "$n" $shape 2>&1) ||
		die "ned failed: $out"
	[ "$out" = "spawn.lua: done $n failed 0" ] ||
		die "ned did not run $n exit handlers ($shape): $(echo "$out" | head -5)"
done

read -r ned base ratio < <(paired_rounds spawn "${ROUNDS:-5}" "${RUNS:-10}" \
	"$NED --wait-and-exit $WORK/spawn.lua $prog $n 64" "$SPAWN_BASELINE $n $prog")
ok=$(met "$ratio" '<=' 1.3)
ned_ms=$(python3 -c "print(f'{$ned*1000:.1f}')")
base_ms=$(python3 -c "print(f'{$base*1000:.1f}')")
echo "spawn: $n starts+reaps, 64 in flight: ned ${ned_ms} ms, posix_spawn baseline ${base_ms} ms, ratio ${ratio}x (target <= 1.3x): $ok"

# Informational: the script starts all N back to back (no window).
read -r bned bbase bratio < <(paired_rounds burst "${ROUNDS:-5}" "${RUNS:-10}" \
	"$NED --wait-and-exit $WORK/spawn.lua $prog $n 0" "$SPAWN_BASELINE $n $prog")
echo "spawn (all $n at once, informational): ned $(python3 -c "print(f'{$bned*1000:.1f}')") ms, ratio ${bratio}x"
result "spawn: start + reap $n static programs, exit handler each, vs posix_spawn + waitpid" \
	"$ned_ms ms" "$base_ms ms" "$(python3 -c "print(f'{$ratio:.2f}×')")" "≤ 1.3×" "$ok"

# Channel clients against tasks with no caps, both through ned.
read -r cned cbase cratio < <(paired_rounds channel "${ROUNDS:-5}" "${RUNS:-10}" \
	"$NED --wait-and-exit $WORK/spawn.lua $prog $n 64 channel" "$NED --wait-and-exit $WORK/spawn.lua $prog $n 64")
cok=$(met "$cratio" '<=' 1.05)
cned_ms=$(python3 -c "print(f'{$cned*1000:.1f}')")
cbase_ms=$(python3 -c "print(f'{$cbase*1000:.1f}')")
echo "spawn: $n channel clients ${cned_ms} ms, $n tasks without caps ${cbase_ms} ms, ratio ${cratio}x (target <= 1.05x): $cok"
result "spawn: $n clients of one channel (a connection each) vs $n tasks with no caps, both ned" \
	"$cned_ms ms" "$cbase_ms ms" "$(python3 -c "print(f'{$cratio:.2f}×')")" "≤ 1.05×" "$cok"
