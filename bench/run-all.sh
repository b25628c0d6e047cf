#!/bin/bash
# Runs every whole-command benchmark (startup, spawn, memory, logs, shutdown,
# supervise, lunatik, prompt, objects, dataspaces, sandbox) and
# prints their results as a markdown table for README's performance table.
# Each benchmark's own output goes to stderr; the table to stdout.
# Exits non-zero only when a benchmark could not be set up or run, never
# because a target was missed.
#
# Usage: bench/run-all.sh [BENCHMARK...]   (default: all of them)
source "$(dirname "$0")/common.sh"
build_ned

benches=("$@")
[ ${#benches[@]} -gt 0 ] || benches=(startup spawn memory logs shutdown supervise lunatik prompt objects dataspaces sandbox)
rows=$WORK/rows
: >"$rows"
for b in "${benches[@]}"; do
	[ -x "$BENCH_DIR/$b.sh" ] || die "no benchmark $b"
	echo "== bench/$b.sh" >&2
	"$BENCH_DIR/$b.sh" >"$WORK/$b.out" || die "bench/$b.sh failed"
	grep -v '^RESULT' "$WORK/$b.out" >&2 || true
	grep '^RESULT' "$WORK/$b.out" >>"$rows" || die "bench/$b.sh printed no result"
done

echo
echo "| benchmark | ned | baseline | ratio | target | met? |"
echo "|---|---|---|---|---|---|"
while IFS=$'\t' read -r _ name ned base ratio target ok; do
	echo "| $name | $ned | $base | $ratio | $target | $ok |"
done <"$rows"
echo
echo "Measured with \`bash bench/run-all.sh\` on $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)."
