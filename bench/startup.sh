#!/bin/bash
# Startup: `ned --exit` on an empty script against Debian's `lua5.4 -e ''`,
# in paired hyperfine rounds (median of the rounds' ratios of medians, see
# paired_rounds in common.sh): the release build as `cargo build --release`
# makes it, and, for information, the static one of build-static-ned.sh
# (no ld.so symbol binding, no libgcc_s, whose constructor runs cpuid).
# Target (issue 15): ned <= 1.15x.
#
# Then, for information, the same pairs run alternately by interleave.c
# (INTERLEAVED=500 rounds), whose ratio a shared machine's load moves least.
#
# Usage: bench/startup.sh   (ROUNDS=30 RUNS=10 by default: short rounds, so
# that both commands of a round see the same load on a shared machine)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine lua5.4:lua5.4
build_ned
STATIC_NED=$("$BENCH_DIR/build-static-ned.sh") || die "static build failed"
STATIC_NED=$(installed "$STATIC_NED" ned-static)
INTERLEAVE=$TARGET/bench/interleave
gcc -O2 -o "$INTERLEAVE" "$BENCH_DIR/interleave.c" || die "failed to build interleave"

: >"$WORK/empty.lua"
ms() { python3 -c "print(f'{$1*1000:.2f} ms')"; }
for kind in dynamic static; do
	bin=$NED
	[ "$kind" = static ] && bin=$STATIC_NED
	read -r ned base ratio < <(paired_rounds "startup-$kind" "${ROUNDS:-30}" "${RUNS:-10}" \
		"$bin --exit $WORK/empty.lua" "lua5.4 -e ''")
	ok=$(met "$ratio" '<=' 1.15)
	printf 'startup (%s ned): ned --exit empty.lua median %s, lua5.4 -e "" median %s, ratio %.2fx (target <= 1.15x): %s\n' \
		"$kind" "$(ms "$ned")" "$(ms "$base")" "$ratio" "$ok"
	result "startup ($kind build): \`ned --exit empty.lua\` vs \`lua5.4 -e ''\`" \
		"$(ms "$ned")" "$(ms "$base")" "$(python3 -c "print(f'{$ratio:.2f}×')")" "≤ 1.15×" "$ok"
	# The same pair run alternately, one run each in turn (interleave.c):
	# the load of a shared machine moves both alike.
	{ read -r nmed np10 _; read -r bmed bp10 _; } < <("$INTERLEAVE" "${INTERLEAVED:-500}" \
		"$bin --exit $WORK/empty.lua" "$(command -v lua5.4) -e return")
	printf 'startup (%s ned), interleaved: median %.2f vs %.2f ms, %.2fx (p10 %.2fx)\n' "$kind" \
		"$nmed" "$bmed" "$(python3 -c "print($nmed/$bmed)")" "$(python3 -c "print($np10/$bp10)")"
done
