#!/bin/bash
# Supervision (issue 11): three figures of ned.supervise with real tasks.
#
# 1. Idle: ned supervising 100 live static-pause tasks accrues < 0.1% of one
#    CPU over 10 s (no polling loop: ned sleeps in epoll). Measured from
#    ned's utime+stime in /proc/<ned>/stat (clock ticks) across the window;
#    the baseline is the same ned with no tasks, measured the same way.
# 2. Restart latency (exit seen -> new process running, backoff 0): a task
#    of static-true under restart = "always" is restarted N times; each
#    latency is L4.now() in its on_exit callback to L4.now() after the next
#    start returned (the child has exec'd: spawn's CLONE_VFORK). Target:
#    median <= 1 ms. Baseline: the same handler starting the next task with
#    a bare loader:startv (no library), so the ratio is the library's cost.
# 3. Crash loop: a task that exits 1 at once, restart = "always" with
#    backoff 50 ms..400 ms: ned's CPU over 5 s, as a fraction of one CPU.
#
# Usage: bench/supervise.sh   (N=2000 restarts by default)
source "$(dirname "$0")/common.sh"
build_ned
pause=$(build_c static-pause)
true_prog=$(build_c static-true)
hz=$(getconf CLK_TCK)
n=${N:-2000}

cat >"$WORK/idle.lua" <<'LUA'
-- idle.lua PROGRAM N: supervises N live tasks, then prints a marker.
local L4 = require("L4")
local sv = require("ned.supervise").new()
local prog, n = arg[1], tonumber(arg[2])
for i = 1, n do sv:add("t" .. i, { argv = { prog }, restart = "always" }) end
sv:start()
print("idle.lua: up " .. n)
LUA

# cpu_ticks PID: utime + stime of PID in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' <(sed 's/.*) //; s/^/x x /' "/proc/$1/stat")
}

# idle_cpu N SECONDS: percent of one CPU ned used over SECONDS with N tasks.
idle_cpu() {
	local k=$1 secs=$2 out=$WORK/idle-$1.out pid a b
	"$NED" "$WORK/idle.lua" "$pause" "$k" >"$out" 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		grep -q "^idle.lua: up $k\$" "$out" && break
		sleep 0.05
	done
	grep -q "^idle.lua: up $k\$" "$out" || die "ned did not start $k tasks: $(head -3 "$out")"
	sleep 1
	a=$(cpu_ticks "$pid")
	sleep "$secs"
	b=$(cpu_ticks "$pid")
	kill -TERM "$pid"
	wait "$pid" || true
	python3 -c "print(f'{($b - $a) / $hz / $secs * 100:.3f}')"
}

cat >"$WORK/restart.lua" <<'LUA'
-- restart.lua PROGRAM N MODE: restarts PROGRAM N times from its exit
-- handler, through ned.supervise (MODE "supervise") or a bare startv
-- ("bare"), and prints the median latency in ms.
local L4 = require("L4")
local prog, n, mode = arg[1], tonumber(arg[2]), arg[3]
local lat, seen = {}, nil
local function report()
  table.sort(lat)
  print(("restart.lua: median %.4f ms over %d"):format(lat[#lat // 2 + 1], #lat))
end
if mode == "supervise" then
  local sv = require("ned.supervise").new()
  sv:add("t", { argv = { prog }, restart = "always", backoff = { initial = 0, max = 0 },
    on_exit = function() seen = L4.now() end,
    on_ready = function()
      if seen then lat[#lat + 1] = L4.now() - seen end
      if #lat == n then report(); os.exit(0) end
    end })
  sv:start()
else
  local function start()
    local t = L4.default_loader:startv({ log = { "t" } }, prog)
    if seen then lat[#lat + 1] = L4.now() - seen end
    if #lat == n then report(); os.exit(0) end
    t:exit_handler(function() seen = L4.now(); start() end)
  end
  start()
end
LUA

median_of() {
	"$NED" "$WORK/restart.lua" "$true_prog" "$n" "$1" 2>&1 | sed -n 's/^restart.lua: median \([0-9.]*\) ms.*/\1/p'
}

cat >"$WORK/crash.lua" <<'LUA'
local sv = require("ned.supervise").new()
sv:add("crash", { argv = { "/bin/false" }, restart = "always",
  backoff = { initial = 50, max = 400, jitter = 0 } })
sv:start()
print("crash.lua: up")
LUA

crash_cpu() {
	local out=$WORK/crash.out pid a b
	"$NED" "$WORK/crash.lua" >"$out" 2>&1 &
	pid=$!
	sleep 1
	a=$(cpu_ticks "$pid")
	sleep 5
	b=$(cpu_ticks "$pid")
	kill -TERM "$pid"
	wait "$pid" || true
	python3 -c "print(f'{($b - $a) / $hz / 5 * 100:.3f}')"
}

idle_base=$(idle_cpu 0 10)
idle_full=$(idle_cpu 100 10)
ok_idle=$(met "$idle_full" '<=' 0.1)
echo "supervise: idle ned, 10 s: ${idle_full}% of one CPU with 100 supervised tasks, ${idle_base}% with none (target < 0.1%): $ok_idle"
result "supervise: idle, 100 tasks, 10 s (% CPU)" "$idle_full" "$idle_base" "-" "< 0.1%" "$ok_idle"

sup=$(median_of supervise)
bare=$(median_of bare)
[ -n "$sup" ] && [ -n "$bare" ] || die "restart.lua printed no median"
ratio=$(python3 -c "print(f'{$sup / $bare:.2f}')")
ok_lat=$(met "$sup" '<=' 1)
echo "supervise: restart latency (exit seen -> running, backoff 0), median of $n: ${sup} ms supervised, ${bare} ms bare startv (${ratio}x) (target <= 1 ms): $ok_lat"
result "supervise: restart latency, median (ms)" "$sup" "$bare" "$ratio" "<= 1 ms" "$ok_lat"

crash=$(crash_cpu)
echo "supervise: crash loop with 50-400 ms backoff, 5 s: ${crash}% of one CPU (information)"
