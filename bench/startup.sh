#!/bin/bash
# Startup: `ned --exit` on an empty script against Debian's `lua5.4 -e ''`,
# in paired hyperfine rounds (median of the rounds' ratios of medians, see
# paired_rounds in common.sh): the release build as `cargo build --release`
# makes it, and, for information, the static one of build-static-ned.sh
# (no ld.so symbol binding, no libgcc_s, whose constructor runs cpuid).
# Target (issue 15): ned <= 1.15x.
#
# Usage: bench/startup.sh   (ROUNDS=30 RUNS=10 by default: short rounds, so
# that both commands of a round see the same load on a shared machine)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine lua5.4:lua5.4
build_ned
STATIC_NED=$("$BENCH_DIR/build-static-ned.sh") || die "static build failed"

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
done
