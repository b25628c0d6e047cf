#!/bin/bash
# Logs: 8 children (bench/static-lines) each write 200,000 lines through
# ned's log multiplexer; lines per second from the median wall time of the
# whole `ned --wait-and-exit` run (start, log, reap, exit), in three modes:
#
#   text  tagged `tag | line` on ned's stdout, redirected to a file
#         (target, issue 12: >= 10,000,000 lines/s)
#   json  --log-format json on ned's stdout, redirected to a file
#         (target: >= 5,000,000 lines/s)
#   file  each task to its own log file rotated at 16 MiB (console = false)
#         (target: >= 5,000,000 lines/s)
#
# For comparison, the same 8 writers appending straight to one file (no ned)
# are timed in the same run. A checked run first verifies every mode's
# output: exactly 8 x 200,000 lines, each writer's complete and in order
# (JSON parsed as JSON; the rotated files read oldest first).
#
# The commands run in paired rounds (ROUNDS hyperfine invocations of RUNS
# runs each, ned first; one warm-up run each in the first), so that load
# from other work on the machine does not land on one side only; the ratio
# is the median of the rounds' ratios of medians. With BEFORE=path/to/an/older/ned, that binary runs in the
# same rounds too, and its ratio to ned is printed.
#
# Usage: bench/logs.sh [MODE...]   (modes: text json file, all by default;
#        WRITERS=8 LINES=200000 ROUNDS=20 RUNS=1 BEFORE=)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine
build_ned
prog=$(build_c static-lines)
writers=${WRITERS:-8}
lines=${LINES:-200000}
total=$((writers * lines))
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(text json file)

cat >"$WORK/logs.lua" <<'LUA'
-- logs.lua PROGRAM WRITERS LINES [DIR]: starts WRITERS tasks tagged
-- w1..wN; with DIR, each logs to DIR/wI.log only, rotated at 16 MiB.
local L4 = require("L4")
local prog, k, lines, dir = arg[1], tonumber(arg[2]), arg[3], arg[4]
for i = 1, k do
  local log = { "w" .. i, "g" }
  if dir then
    log.file, log.max_size, log.keep, log.console = dir .. "/w" .. i .. ".log", "16M", 100, false
  end
  L4.default_loader:startv({ log = log }, prog, "w" .. i, lines)
end
LUA
direct_cmd="bash -c 'for i in \$(seq $writers); do $prog w\$i $lines & done; wait'"

# check MODE: verifies the output of one run of MODE.
check() {
	python3 - "$1" "$WORK" "$writers" "$lines" <<'PY'
import json, os, re, sys
mode, work, k, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = re.compile(rb"(w\d+) (\d+), a line of a log throughput test\Z")
def lines():
    if mode == "file":
        for i in range(1, k + 1):
            base = f"{work}/files/w{i}.log"
            rotated = sorted((int(f.rsplit(".", 1)[1]) for f in os.listdir(f"{work}/files")
                              if f.startswith(f"w{i}.log.")), reverse=True)
            for path in [f"{base}.{r}" for r in rotated] + [base]:
                data = open(path, "rb").read()
                if data and not data.endswith(b"\n"):
                    yield None, b"file ends inside a line: " + path.encode()
                for l in data.splitlines():
                    t, _, rest = l.partition(b" | ")
                    yield t, rest
    else:
        for l in open(f"{work}/out.txt", "rb"):
            l = l.rstrip(b"\n")
            if mode == "json":
                r = json.loads(l)
                if r["stream"] == "event":
                    continue
                yield r["tag"].encode(), r["line"].encode()
            else:
                t, _, rest = l.partition(b" | ")
                yield t.rstrip(), rest
next_no = {f"w{i}".encode(): 0 for i in range(1, k + 1)}
bad = 0
for tag, rest in lines():
    m = body.match(rest or b"")
    if not m or m[1] != tag or tag not in next_no or int(m[2]) != next_no[tag]:
        bad += 1
        if bad <= 3:
            print("bad line:", tag, rest[:120], file=sys.stderr)
        continue
    next_no[tag] += 1
short = {t.decode(): c for t, c in next_no.items() if c != n}
if bad or short:
    print(f"{mode}: {bad} malformed or out-of-order lines; writers short of {n}: {short}", file=sys.stderr)
    sys.exit(1)
print(f"logs {mode}: checked {k * n} lines: all there, complete and in order", file=sys.stderr)
PY
}

for mode in "${modes[@]}"; do
	case $mode in
	text) ned_cmd="$NED --wait-and-exit $WORK/logs.lua $prog $writers $lines" target=10000000 ;;
	json) ned_cmd="$NED --wait-and-exit --log-format json $WORK/logs.lua $prog $writers $lines" target=5000000 ;;
	file) ned_cmd="$NED --wait-and-exit $WORK/logs.lua $prog $writers $lines $WORK/files" target=5000000 ;;
	*) die "unknown mode $mode (text, json or file)" ;;
	esac
	rm -rf "$WORK/files" && mkdir "$WORK/files"
	$ned_cmd >"$WORK/out.txt" 2>"$WORK/err.txt" || die "ned failed: $(head -5 "$WORK/err.txt")"
	[ ! -s "$WORK/err.txt" ] || die "ned wrote to stderr: $(head -5 "$WORK/err.txt")"
	check "$mode" || die "$mode: log output check failed"
	before=()
	[ -z "${BEFORE:-}" ] || before=(-n before "${ned_cmd/#$NED/$BEFORE}")
	rounds=${ROUNDS:-20}
	for r in $(seq "$rounds"); do
		hyperfine -N --warmup $((r == 1)) --runs "${RUNS:-1}" --output "$WORK/out.txt" \
			--prepare "bash -c 'rm -rf $WORK/files; mkdir $WORK/files'" \
			--export-json "$WORK/logs-$r.json" \
			-n ned "$ned_cmd" -n direct "$direct_cmd" "${before[@]}" >&2 || die "hyperfine failed"
	done
	read -r ned base ratio < <(
		python3 - "$WORK/logs" "$rounds" "$mode" <<'PY'
import json, statistics as st, sys
base, rounds, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
times, ratios = {}, {}
for r in range(1, rounds + 1):
    res = {x["command"]: x for x in json.load(open(f"{base}-{r}.json"))["results"]}
    for name, x in res.items():
        times.setdefault(name, []).extend(x["times"])
        ratios.setdefault(name, []).append(x["median"] / res["direct"]["median"])
    if "before" in res:
        ratios.setdefault("ned/before", []).append(res["ned"]["median"] / res["before"]["median"])
if "before" in times:
    print(f"logs {mode}: BEFORE's median {st.median(times['before']) * 1000:.0f} ms "
          f"({st.median(ratios['before']):.2f}x the direct time); ned's is "
          f"{st.median(ratios['ned/before']):.3f}x BEFORE's "
          f"(rounds: {' '.join(f'{x:.2f}' for x in ratios['ned/before'])})", file=sys.stderr)
print(f"{st.median(times['ned']):.6f} {st.median(times['direct']):.6f} {st.median(ratios['ned']):.3f}")
PY
	)
	ned_lps=$(python3 -c "print(round($total / $ned))")
	base_lps=$(python3 -c "print(round($total / $base))")
	ok=$(met "$ned_lps" '>=' "$target")
	echo "logs $mode: $writers writers x $lines lines through ned: $(python3 -c "print(f'{$ned*1000:.0f}')") ms = ${ned_lps} lines/s (target >= $target): $ok; writers straight to a file: ${base_lps} lines/s (${ratio}x ned's time)"
	result "logs ($mode): $writers writers × $lines lines through ned (baseline: writers straight to a file)" \
		"$(python3 -c "print(f'{$ned_lps/1e6:.1f}M lines/s')")" "$(python3 -c "print(f'{$base_lps/1e6:.1f}M lines/s')")" \
		"$(python3 -c "print(f'{$ratio:.2f}× time')")" "≥ $(python3 -c "print(f'{$target/1e6:.0f}')")M lines/s" "$ok"
done
