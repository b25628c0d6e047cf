#!/bin/bash
# Dataspaces: one script creates N dataspaces of 4 KiB
# (`L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096)`) and keeps them all,
# against dataspace-baseline doing N memfd_create + ftruncate in a plain
# Rust loop, fds kept open too. Both are whole processes (ned's start-up,
# a few ms, is in its time). Target (issue 9): ned <= 1.5x the baseline.
#
# Timing: ROUNDS paired hyperfine rounds of RUNS runs each (paired_rounds in
# common.sh); the ratio is the median of the rounds' ratios.
#
# Usage: bench/dataspaces.sh   (N=10000 ROUNDS=5 RUNS=10 by default)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine
build_ned
raise_nofile
n=${N:-10000}
cat >"$WORK/dataspaces.lua" <<'LUA'
local L4 = require("L4")
local n, keep = tonumber(arg[1]), {}
local mem = L4.Env.mem_alloc
for i = 1, n do keep[i] = mem:create(L4.Proto.Dataspace, 4096) end
print("dataspaces=" .. #keep)
LUA
out=$("$NED" --exit "$WORK/dataspaces.lua" "$n" 2>&1) || die "ned failed: $out"
[ "$out" = "dataspaces=$n" ] || die "ned made no $n dataspaces: $(echo "$out" | head -3)"
baseline=$(installed "$TARGET/release/dataspace-baseline")
out=$("$baseline" "$n") || die "baseline failed: $out"
read -r ned base ratio < <(paired_rounds dataspaces "${ROUNDS:-5}" "${RUNS:-10}" \
	"$NED --exit $WORK/dataspaces.lua $n" "$baseline $n")
# Informational: ned with N=0 (its start-up and exit alone), so that the
# cost per dataspace, (ned - start-up) / N, can be told from the fixed cost.
hyperfine -N --warmup 2 --runs "${RUNS:-10}" --export-json "$WORK/start.json" \
	"$NED --exit $WORK/dataspaces.lua 0" >/dev/null || die "hyperfine failed"
start=$(python3 -c "import json; print(json.load(open('$WORK/start.json'))['results'][0]['median'])")
echo "dataspaces: ned with N=0 (start-up and exit alone) $(python3 -c "print(f'{$start*1000:.1f}')") ms;" \
	"per dataspace beyond that: ned $(python3 -c "print(f'{($ned-$start)/$n*1e6:.2f}')") µs," \
	"baseline $(python3 -c "print(f'{$base/$n*1e6:.2f}')") µs (its own start-up included)"
ok=$(met "$ratio" '<=' 1.5)
ned_ms=$(python3 -c "print(f'{$ned*1000:.1f}')")
base_ms=$(python3 -c "print(f'{$base*1000:.1f}')")
echo "dataspaces: $n of 4 KiB from one script: ned ${ned_ms} ms, memfd_create+ftruncate loop ${base_ms} ms, ratio ${ratio}x (target <= 1.5x): $ok"
result "dataspaces: $n of 4 KiB created by one script vs memfd_create + ftruncate in a Rust loop" \
	"$ned_ms ms" "$base_ms ms" "$(python3 -c "print(f'{$ratio:.2f}×')")" "≤ 1.5×" "$ok"
