#!/bin/bash
# Logs: 8 children (bench/static-lines) each write 200,000 lines through
# ned's log multiplexer into a file; tagged lines per second from the median
# wall time of the whole `ned --wait-and-exit` run (start, log, reap, exit).
# Target (issue 3): >= 1,000,000 tagged lines/s. For comparison, the same 8
# writers appending straight to one file (no ned) are timed in the same run.
# The output of a checked run must hold exactly 8 x 200,000 well-formed
# `tag | line` lines, each writer's lines complete and in order.
#
# Usage: bench/logs.sh   (WRITERS=8 LINES=200000 RUNS=10 by default)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine
build_ned
prog=$(build_c static-lines)
writers=${WRITERS:-8}
lines=${LINES:-200000}
total=$((writers * lines))

cat >"$WORK/logs.lua" <<'LUA'
-- logs.lua PROGRAM WRITERS LINES: starts WRITERS tasks tagged w1..wN.
local L4 = require("L4")
local prog, k, lines = arg[1], tonumber(arg[2]), arg[3]
for i = 1, k do
  L4.default_loader:startv({ log = { "w" .. i, "g" } }, prog, "w" .. i, lines)
end
LUA
ned_cmd="$NED --wait-and-exit $WORK/logs.lua $prog $writers $lines"
direct_cmd="bash -c 'for i in \$(seq $writers); do $prog w\$i $lines & done; wait'"

# Checked run.
$ned_cmd >"$WORK/out.txt" 2>"$WORK/err.txt" || die "ned failed: $(head -5 "$WORK/err.txt")"
[ ! -s "$WORK/err.txt" ] || die "ned wrote to stderr: $(head -5 "$WORK/err.txt")"
python3 - "$WORK/out.txt" "$writers" "$lines" <<'PY' || die "log output check failed"
import re, sys
path, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
line_re = re.compile(rb"(w\d+) +\| (w\d+) (\d+), a line of a log throughput test\n\Z")
next_no = {f"w{i}".encode(): 0 for i in range(1, k + 1)}
bad = 0
with open(path, "rb") as f:
    for line in f:
        m = line_re.match(line)
        if not m or m[1] != m[2] or m[1] not in next_no or int(m[3]) != next_no[m[1]]:
            bad += 1
            if bad <= 3:
                print("bad line:", line[:120], file=sys.stderr)
            continue
        next_no[m[1]] += 1
short = {t.decode(): c for t, c in next_no.items() if c != n}
if bad or short:
    print(f"{bad} malformed or out-of-order lines; writers short of {n}: {short}", file=sys.stderr)
    sys.exit(1)
print(f"logs: checked {k * n} lines: all tagged, complete and in order", file=sys.stderr)
PY

hyperfine -N --warmup 1 --runs "${RUNS:-10}" --output "$WORK/out.txt" \
	--export-json "$WORK/logs.json" \
	-n ned "$ned_cmd" -n direct "$direct_cmd" >&2 || die "hyperfine failed"
[ "$(wc -l <"$WORK/out.txt")" -eq "$total" ] || die "timed run wrote $(wc -l <"$WORK/out.txt") lines, not $total"
read -r ned base ratio < <(median_ratio "$WORK/logs.json")
ned_lps=$(python3 -c "print(round($total / $ned))")
base_lps=$(python3 -c "print(round($total / $base))")
ok=$(met "$ned_lps" '>=' 1000000)
echo "logs: $writers writers x $lines lines through ned to a file: $(python3 -c "print(f'{$ned*1000:.0f}')") ms = ${ned_lps} lines/s (target >= 1,000,000): $ok; writers straight to the file: ${base_lps} lines/s (${ratio}x ned's time)"
result "logs: $writers writers × $lines lines through ned to a file (baseline: writers straight to the file)" \
	"$(python3 -c "print(f'{$ned_lps/1e6:.1f}M lines/s')")" "$(python3 -c "print(f'{$base_lps/1e6:.1f}M lines/s')")" \
	"$(python3 -c "print(f'{$ratio:.2f}× time')")" "≥ 1M lines/s" "$ok"
