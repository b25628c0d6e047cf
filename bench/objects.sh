#!/bin/bash
# Object service: (1) a task's namespace `query` round trip through ned
# (the reply carries a new fd), target median <= 25 µs; (2) a boot script's
# `create` on a channel forwarded to a driver task and answered, target
# median <= 50 µs. object-bench (bench/src/object_bench.rs) times both from
# inside the task, and its baseline in the same run: the same messages over
# a plain SEQPACKET socket to an echo thread.
#
# Usage: bench/objects.sh   (N=20000 by default)
source "$(dirname "$0")/common.sh"
build_ned
n=${N:-20000}
bench=$TARGET/release/object-bench
cat >"$WORK/objects.lua" <<'LUA'
local L4 = require("L4")
local bench, n = arg[1], tonumber(arg[2])
local ld = L4.default_loader
local ns = L4.Env.factory:create(L4.Proto.Namespace)
ns:register("x", L4.Env.mem_alloc:create(L4.Proto.Dataspace, 4096))
local q = ld:startv({ caps = { ns = ns }, log = { "query" } }, bench, "query", tostring(n))
q:wait()
local ch = ld:new_channel()
local d = ld:startv({ caps = { svr = ch:svr() }, log = { "create" } }, bench, "drive", tostring(n))
for _ = 1, n do ch:create(L4.Proto.Goos, "g=1x1") end
d:kill()
LUA
"$NED" --exit "$WORK/objects.lua" "$bench" "$n" >"$WORK/out.txt" 2>&1 || die "ned failed: $(cat "$WORK/out.txt")"
line() { grep "| RESULT $1 " "$WORK/out.txt" | sed 's/.*RESULT //'; }
read -r _ qn qb < <(line query) || die "no query result: $(cat "$WORK/out.txt")"
read -r _ cn cb < <(line create) || die "no create result: $(cat "$WORK/out.txt")"
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
qok=$(met "$qn" '<=' 25)
cok=$(met "$cn" '<=' 50)
echo "objects: query round trip from a task: median ${qn} µs (target <= 25): $qok; plain socket echo ${qb} µs ($(ratio "$qn" "$qb")x)"
echo "objects: create forwarded to a driver: median ${cn} µs (target <= 50): $cok; plain socket echo ${cb} µs ($(ratio "$cn" "$cb")x)"
result "namespace query round trip from a task (baseline: the same messages to an echo thread)" \
	"${qn} µs" "${qb} µs" "$(ratio "$qn" "$qb")×" "≤ 25 µs median" "$qok"
result "create forwarded to a driver task and answered (baseline: the same messages to an echo thread)" \
	"${cn} µs" "${cb} µs" "$(ratio "$cn" "$cb")×" "≤ 50 µs median" "$cok"
