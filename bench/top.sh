#!/bin/bash
# Live view: what `ned-prompt --top` costs ned. ned serves `--control` with
# 500 sleeping tasks (bench/static-pause, each with a tagged log); ned's CPU
# time (utime + stime of /proc/<ned>/stat, all its threads) is read before
# and after SECS seconds, first with nothing connected (the baseline: an
# idle ned), then with the live view open in a tmux terminal, refreshing
# every second. Target (issue 10): the view costs ned <= 1% of one CPU.
# The view's screen is checked to show all the tasks.
#
# Usage: bench/top.sh   (N=500 SECS=10 by default)
source "$(dirname "$0")/common.sh"
need_tools tmux:tmux
build_ned
(cd "$ROOT" && cargo build --release --quiet -p ned-prompt) || die "cargo build -p ned-prompt failed"
PROMPT=$TARGET/release/ned-prompt
raise_nofile
prog=$(build_c static-pause)
n=${N:-500}
secs=${SECS:-10}
sock=$WORK/ctl
session=ned-bench-top-$$

cat >"$WORK/top.lua" <<'LUA'
-- top.lua PROGRAM N: N tasks that sleep until ned ends them.
local L4 = require("L4")
local prog, n = arg[1], tonumber(arg[2])
tasks = {}
for i = 1, n do
  tasks[i] = L4.default_loader:startv({ log = { "t" .. i, "w" } }, prog)
end
LUA

"$NED" --control "$sock" "$WORK/top.lua" "$prog" "$n" >"$WORK/ned.out" 2>&1 &
ned_pid=$!
cleanup() {
	tmux kill-session -t "$session" 2>/dev/null || true
	kill "$ned_pid" 2>/dev/null || true
	wait "$ned_pid" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

count=
for _ in $(seq 600); do
	count=$("$PROMPT" --connect "$sock" -e "return #require('ned.prompt').tasks()" 2>/dev/null) || true
	[ "$count" = "$n" ] && break
	kill -0 "$ned_pid" 2>/dev/null || die "ned exited early: $(head -5 "$WORK/ned.out")"
	sleep 0.1
done
[ "$count" = "$n" ] || die "ned did not start $n tasks (got '$count')"
sleep 1 # let the loop settle

# cpu_ticks: ned's utime + stime, in clock ticks.
cpu_ticks() {
	python3 -c "import sys; f=open('/proc/$ned_pid/stat').read().rsplit(')',1)[1].split(); print(int(f[11])+int(f[12]))"
}
hz=$(getconf CLK_TCK)
# percent TICKS: ned's CPU over the window, as % of one CPU.
percent() {
	python3 -c "print(f'{$1 / $hz / $secs * 100:.2f}')"
}

before=$(cpu_ticks)
sleep "$secs"
idle=$(($(cpu_ticks) - before))

tmux new-session -d -s "$session" -x 120 -y 40 "$PROMPT --connect $sock --top"
for _ in $(seq 100); do
	tmux capture-pane -p -t "$session" 2>/dev/null | grep -q "ned top — $n tasks, $n running" && break
	sleep 0.1
done
tmux capture-pane -p -t "$session" | grep -q "ned top — $n tasks, $n running" ||
	die "the live view did not show $n tasks: $(tmux capture-pane -p -t "$session" | head -5)"
before=$(cpu_ticks)
sleep "$secs"
viewed=$(($(cpu_ticks) - before))
tmux capture-pane -p -t "$session" | grep -q "ned top — $n tasks" || die "the live view stopped"
tmux send-keys -t "$session" q

idle_pct=$(percent "$idle")
view_pct=$(percent "$((viewed - idle > 0 ? viewed - idle : 0))")
total_pct=$(percent "$viewed")
ok=$(met "$view_pct" '<=' 1)
echo "top: $n tasks, ${secs} s: ned used ${total_pct}% of one CPU with the live view open, ${idle_pct}% idle; the view's cost ${view_pct}% (target <= 1%): $ok ($((viewed)) vs $((idle)) ticks at ${hz} Hz)"
result "live view: ned's CPU with $n tasks and \`ned-prompt --top\` open for ${secs} s (baseline: ned idle)" \
	"${total_pct}% CPU" "${idle_pct}% CPU" "+${view_pct} points" "≤ 1% of one CPU" "$ok"
