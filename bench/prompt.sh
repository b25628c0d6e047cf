#!/bin/bash
# Remote commands: `return 1` round trips on one connection to
# `ned --control` (10,000, one in flight), against the same frames echoed
# by a thread over a SEQPACKET socket pair (transport and wake-ups alone).
# Target (issue 10): median <= 50 us.
#
# Usage: bench/prompt.sh   (N=10000 by default)
source "$(dirname "$0")/common.sh"
build_ned
N=${N:-10000}
RTT=$TARGET/release/prompt-rtt

: >"$WORK/empty.lua"
"$NED" --control "$WORK/c.sock" "$WORK/empty.lua" 2>"$WORK/ned.err" &
ned_pid=$!
for _ in $(seq 500); do
	[ -S "$WORK/c.sock" ] && "$TARGET/release/prompt-rtt" "$WORK/c.sock" 1 >/dev/null 2>&1 && break
	sleep 0.01
done
read -r med p99 < <("$RTT" "$WORK/c.sock" "$N") || die "prompt-rtt failed: $(cat "$WORK/ned.err")"
kill -TERM "$ned_pid"
wait "$ned_pid" || die "ned exited with $?: $(cat "$WORK/ned.err")"
read -r bmed bp99 < <("$RTT" --echo "$N") || die "prompt-rtt --echo failed"
ratio=$(python3 -c "print(f'{$med/$bmed:.2f}')")
ok=$(met "$med" '<=' 50)
printf 'prompt: return 1 round trip median %.1f us (p99 %.1f us), echo baseline median %.1f us (p99 %.1f us), %sx; target median <= 50 us: %s\n' \
	"$med" "$p99" "$bmed" "$bp99" "$ratio" "$ok"
result "remote command: \`return 1\` round trip over \`--control\` vs a SEQPACKET echo thread (median of $N)" \
	"$med µs" "$bmed µs" "${ratio}×" "≤ 50 µs" "$ok"
