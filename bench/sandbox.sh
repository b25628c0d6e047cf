#!/bin/bash
# Sandbox (issue 13), two targets:
#
# 1. Start one static program in the strict sandbox: `ned --wait-and-exit
#    one.lua` (ned's own start, the script, one task in `sandbox =
#    "strict"`, its reaping and ned's exit) against `bwrap --unshare-all
#    --die-with-parent` starting the same program (Debian's bubblewrap,
#    which binds only the program into its empty root). Target: ned <= 1.0x.
# 2. A start-and-reap loop of N (500) tasks, one at a time, in the sandbox
#    against the same loop without one, both through ned. Target: <= 3x.
#
# SANDBOX is the Lua value of the start table's `sandbox` key (default
# '"strict"'); e.g. SANDBOX='{ memory = "64M", pids = 32 }' measures the
# cgroup limits instead. A build whose ned does not accept SANDBOX fails the
# checked run below with ned's own error.
#
# Timing: ROUNDS paired hyperfine rounds of RUNS runs each (paired_rounds in
# common.sh); the ratio is the median of the rounds' ratios.
#
# Usage: bench/sandbox.sh   (N=500 ROUNDS=5 RUNS=20 LOOP_RUNS=5 by default)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine bwrap:bubblewrap
build_ned
prog=$(build_c static-true)
sandbox=${SANDBOX:-'"strict"'}
n=${N:-500}

cat >"$WORK/sandbox.lua" <<LUA
-- bench/sandbox.lua PROGRAM N [plain]: starts PROGRAM N times, one after
-- the other, each reaped before the next; in the sandbox unless "plain".
local L4 = require("L4")
local prog, n = arg[1], tonumber(arg[2])
local sandbox = arg[3] ~= "plain" and ($sandbox) or nil
local failed = 0
for _ = 1, n do
  local code = L4.default_loader:startv({ log = { "t", "w" }, sandbox = sandbox }, prog):wait()
  if code ~= 0 then failed = failed + 1 end
end
print("sandbox.lua: done " .. n .. " failed " .. failed)
LUA
# The sandbox refuses host paths it does not grant: the program comes from
# the rom cap, as a boot script's programs do.
rom=(--rom "$(dirname "$prog")")
task="rom/$(basename "$prog")"
bwrap=(bwrap --unshare-all --die-with-parent --ro-bind "$prog" "$prog" "$prog")

# One checked run of each command first: every task must have exited 0.
for args in "1" "$n" "$n plain"; do
	# shellcheck disable=SC2086 # $args is several words on purpose
	out=$("$NED" --wait-and-exit "${rom[@]}" "$WORK/sandbox.lua" "$task" $args 2>&1) ||
		die "ned failed: $out"
	count=${args%% *}
	[ "$out" = "sandbox.lua: done $count failed 0" ] ||
		die "ned did not run $count sandboxed tasks ($args): $(echo "$out" | head -5)"
done
"${bwrap[@]}" || die "bwrap cannot start $prog here: ${bwrap[*]}"

ms() { python3 -c "print(f'{$1*1000:.2f}')"; }
times() { python3 -c "print(f'{$1:.2f}×')"; }

read -r ned base ratio < <(paired_rounds sandbox-one "${ROUNDS:-5}" "${RUNS:-20}" \
	"$NED --wait-and-exit ${rom[*]} $WORK/sandbox.lua $task 1" "${bwrap[*]}")
ok=$(met "$ratio" '<=' 1.0)
echo "sandbox: one task in sandbox = $sandbox: ned $(ms "$ned") ms, ${bwrap[*]} $(ms "$base") ms, ratio ${ratio}x (target <= 1.0x): $ok"
result "sandbox: start one static program, \`sandbox = $sandbox\`, vs \`bwrap --unshare-all --die-with-parent\`" \
	"$(ms "$ned") ms" "$(ms "$base") ms" "$(times "$ratio")" "≤ 1.0×" "$ok"

read -r lned lbase lratio < <(paired_rounds sandbox-loop "${ROUNDS:-5}" "${LOOP_RUNS:-5}" \
	"$NED --wait-and-exit ${rom[*]} $WORK/sandbox.lua $task $n" "$NED --wait-and-exit ${rom[*]} $WORK/sandbox.lua $task $n plain")
lok=$(met "$lratio" '<=' 3.0)
echo "sandbox: $n starts+reaps in sandbox = $sandbox $(ms "$lned") ms, without $(ms "$lbase") ms, ratio ${lratio}x (target <= 3x): $lok"
result "sandbox: start + reap $n static programs one by one, \`sandbox = $sandbox\` vs none, both ned" \
	"$(ms "$lned") ms" "$(ms "$lbase") ms" "$(times "$lratio")" "≤ 3×" "$lok"
