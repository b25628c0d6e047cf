#!/bin/bash
# Startup: `ned --exit` on an empty script against Debian's `lua5.4 -e ''`,
# medians of one hyperfine run side by side. Target (issue 2): ned <= 1.5x.
#
# Usage: bench/startup.sh   (RUNS=200 WARMUP=20 by default)
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine lua5.4:lua5.4
build_ned

: >"$WORK/empty.lua"
hyperfine -N --warmup "${WARMUP:-20}" --runs "${RUNS:-200}" \
	--export-json "$WORK/startup.json" \
	-n ned "$NED --exit $WORK/empty.lua" \
	-n lua5.4 "lua5.4 -e ''" >&2 || die "hyperfine failed"
read -r ned base ratio < <(median_ratio "$WORK/startup.json")
ok=$(met "$ratio" '<=' 1.5)
printf 'startup: ned --exit empty.lua median %.2f ms, lua5.4 -e "" median %.2f ms, ratio %.2fx (target <= 1.5x): %s\n' \
	"$(python3 -c "print($ned*1000)")" "$(python3 -c "print($base*1000)")" "$ratio" "$ok"
result "startup: \`ned --exit empty.lua\` vs \`lua5.4 -e ''\`" \
	"$(python3 -c "print(f'{$ned*1000:.2f} ms')")" "$(python3 -c "print(f'{$base*1000:.2f} ms')")" \
	"$(python3 -c "print(f'{$ratio:.2f}×')")" "≤ 1.5×" "$ok"
