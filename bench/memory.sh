#!/bin/bash
# Memory: ned's resident set with 1,000 live children (bench/static-pause,
# each with its own tagged log pipe) against an idle ned running the same
# script with no children. VmRSS is read from /proc/<ned>/status once the
# script printed that all children are up. Targets (issue 3): <= 12 MiB in
# all, <= 8 KiB of ned memory per child beyond the idle ned.
#
# Usage: bench/memory.sh   (N=1000 by default)
source "$(dirname "$0")/common.sh"
build_ned
raise_nofile
prog=$(build_c static-pause)
n=${N:-1000}

cat >"$WORK/memory.lua" <<'LUA'
-- memory.lua PROGRAM N: starts N tasks of PROGRAM that stay alive, then
-- prints a marker; ned keeps serving until SIGTERM.
local L4 = require("L4")
local prog, n = arg[1], tonumber(arg[2])
local tasks = {}
for i = 1, n do
  tasks[i] = L4.default_loader:startv({ log = { "t", "w" } }, prog)
end
print("memory.lua: up " .. n)
LUA

# rss_with N: starts ned with N children, prints "VmRSS_KiB Pss_KiB
# Anonymous_KiB" of ned once all are up, then ends ned (and its children).
rss_with() {
	local k=$1 out=$WORK/ned-$1.out pid
	"$NED" "$WORK/memory.lua" "$prog" "$k" >"$out" 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		grep -q "^memory.lua: up $k\$" "$out" && break
		kill -0 "$pid" 2>/dev/null || die "ned exited early: $(head -5 "$out")"
		sleep 0.05
	done
	grep -q "^memory.lua: up $k\$" "$out" || die "ned did not start $k children"
	# Let the loop settle (children exec, nothing left to read).
	sleep 0.5
	local live
	live=$(pgrep -c -P "$pid" || true)
	[ "$live" -eq "$k" ] || die "expected $k live children of ned, found $live"
	local rss pss anon
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
	anon=$(awk '/^Anonymous:/ {print $2}' "/proc/$pid/smaps_rollup")
	kill -TERM "$pid"
	wait "$pid" || true
	echo "$rss $pss $anon"
}

read -r idle idle_pss idle_anon < <(rss_with 0)
read -r full full_pss full_anon < <(rss_with "$n")
per=$(python3 -c "print(f'{($full - $idle) * 1024 / $n / 1024:.2f}')")
total_mib=$(python3 -c "print(f'{$full / 1024:.2f}')")
idle_mib=$(python3 -c "print(f'{$idle / 1024:.2f}')")
ok_total=$(met "$total_mib" '<=' 12)
ok_per=$(met "$per" '<=' 8)
echo "memory: idle ned VmRSS ${idle_mib} MiB (anon ${idle_anon} KiB); with $n live children ${total_mib} MiB (anon ${full_anon} KiB): total (target <= 12 MiB): $ok_total; per child ${per} KiB (target <= 8 KiB): $ok_per"
result "memory: ned VmRSS with $n live children (baseline: idle ned)" \
	"$total_mib MiB" "$idle_mib MiB" "—" "≤ 12 MiB" "$ok_total"
result "memory: ned per live child beyond an idle ned" "$per KiB" "—" "—" "≤ 8 KiB" "$ok_per"
