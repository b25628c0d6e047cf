#!/bin/bash
# ned against its peers (issue 15): the same scenarios run against ned,
# supervisord, runit, s6, honcho and tini (each driven as its own docs say,
# with a config generated under a temp directory) and plain posix_spawn as
# the floor, then one Markdown table of medians and ratios (peer ÷ ned, so
# above 1 means ned is ahead). The scenarios and how each peer is measured
# are in bench/compare/compare.py and bench/README.md.
#
# Usage: bash bench/compare.sh [LETTER...]   (scenarios a-f, all by default;
#        about 5-10 minutes on 2 cores)
# Exits non-zero only when set-up fails (install, build); a peer that fails
# a scenario gets a cell saying so.
source "$(dirname "$0")/common.sh"
need_tools hyperfine:hyperfine supervisord:supervisor runsvdir:runit s6-svscan:s6 \
	tini:tini unshare:util-linux pip3:python3-pip
if ! command -v honcho >/dev/null 2>&1; then
	echo "bench: installing honcho (pip)" >&2
	pip3 install --quiet honcho >/dev/null 2>&1 ||
		pip3 install --quiet --break-system-packages honcho >/dev/null 2>&1 ||
		die "failed to install honcho"
fi
build_ned
raise_nofile
mkdir -p "$TARGET/bench/compare"
python3 "$BENCH_DIR/compare/compare.py" --ned "$NED" --baseline "$SPAWN_BASELINE" \
	--true "$(build_c static-true)" --pause "$(build_c static-pause)" \
	--lines "$(build_c static-lines)" --stamp "$(build_c compare/stamp)" \
	--orphans "$(build_c compare/orphans)" --work "$WORK" --target "$TARGET" "$@" ||
	die "compare.py failed"
echo
echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'),"
echo "$(uname -sr); supervisor $(supervisord -v), runit $(dpkg-query -W -f '${Version}' runit)," \
	"s6 $(dpkg-query -W -f '${Version}' s6), tini $(dpkg-query -W -f '${Version}' tini)," \
	"$(honcho --version 2>&1 | tr -d '\n')."
