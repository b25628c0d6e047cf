#!/bin/bash
# Shared set-up for bench/*.sh (sourced, not run): installs missing tools,
# builds ned and the baselines in release mode and exports their paths.
#
# Exports: BENCH_DIR, TARGET, NED, SPAWN_BASELINE, WORK (a temp directory
# removed on exit). Functions: need_tools, build_ned, build_c, median_ratio.
# Set-up failures exit non-zero; a missed target never does.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TARGET=$CARGO_TARGET_DIR
NED=$TARGET/release/ned
SPAWN_BASELINE=$TARGET/release/spawn-baseline
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ned-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

die() {
	echo "bench: $*" >&2
	exit 1
}

# need_tools CMD:PACKAGE...  installs PACKAGE with apt-get when CMD is missing.
need_tools() {
	local missing=() spec
	for spec in "$@"; do
		command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "bench: installing ${missing[*]}" >&2
	$sudo apt-get install -y "${missing[@]}" >/dev/null 2>&1 ||
		{ $sudo apt-get update >/dev/null 2>&1 &&
			$sudo apt-get install -y "${missing[@]}" >/dev/null 2>&1; } ||
		die "failed to install ${missing[*]}"
}

# Builds ned and spawn-baseline once per run-all (BENCH_BUILT guards
# repeats), then points NED and SPAWN_BASELINE at installed copies.
build_ned() {
	if [ "${BENCH_BUILT:-}" != 1 ]; then
		need_tools cc:gcc python3:python3
		(cd "$ROOT" && cargo build --release --quiet -p ned -p ned-bench) ||
			die "cargo build --release failed"
		export BENCH_BUILT=1
	fi
	NED=$(installed "$TARGET/release/ned")
	SPAWN_BASELINE=$(installed "$TARGET/release/spawn-baseline")
}

# installed BINARY [NAME]: a copy of BINARY in $WORK/bin, as `install` (or a
# package, or cargo install) would write it; prints its path. The linker
# writes its output through a mapping, which leaves the file in the page
# cache in small pages: run from there, ned took 144 page faults for an
# empty script instead of 112 and started 0.12-0.16 ms slower than the
# same bytes copied (bench/README.md), a handicap against baselines that
# dpkg installed. Every compared binary runs from such a copy.
# With NAME, the copy is $WORK/bin/NAME.
installed() {
	local to=$WORK/bin/${2:-$(basename "$1")}
	mkdir -p "$WORK/bin"
	install -m 755 "$1" "$to" || die "failed to copy $1"
	echo "$to"
}

# build_c NAME: compiles bench/NAME.c to $TARGET/bench/NAME, static when
# static glibc is installed (dynamic otherwise: the result is only slower
# to start, never wrong).
build_c() {
	local name=$1 out=$TARGET/bench/$1
	mkdir -p "$TARGET/bench"
	if [ "$name" = static-true ]; then
		"$BENCH_DIR/build-static.sh" "$out" >/dev/null || die "failed to build $name"
	elif ! gcc -static -O2 -s -o "$out" "$BENCH_DIR/$name.c" 2>/dev/null; then
		gcc -O2 -s -o "$out" "$BENCH_DIR/$name.c" || die "failed to build $name"
	fi
	echo "$out"
}

# median_ratio JSON: prints "ned_median baseline_median ratio" (seconds) from
# a hyperfine export whose first command is ned's and second the baseline's.
median_ratio() {
	python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, b = r[0]["median"], r[1]["median"]
print(f"{a:.6f} {b:.6f} {a / b:.3f}")
PY
}

# paired_rounds NAME ROUNDS RUNS NED_CMD BASE_CMD: hyperfine runs both
# commands ROUNDS times (RUNS each, ned first) and prints "ned_median
# baseline_median ratio": the medians over all runs and the median of the
# rounds' ratios of medians. Pairing the commands in short rounds keeps load
# from other work on the machine from landing on one side only.
paired_rounds() {
	local name=$1 rounds=$2 runs=$3 r
	for r in $(seq "$rounds"); do
		hyperfine -N --warmup 2 --runs "$runs" --export-json "$WORK/$name-$r.json" \
			-n ned "$4" -n baseline "$5" >&2 || die "hyperfine failed"
	done
	python3 - "$WORK/$name" "$rounds" <<'PY'
import json, statistics as st, sys
base, rounds = sys.argv[1], int(sys.argv[2])
a, b, ratios = [], [], []
for r in range(1, rounds + 1):
    res = json.load(open(f"{base}-{r}.json"))["results"]
    a += res[0]["times"]
    b += res[1]["times"]
    ratios.append(res[0]["median"] / res[1]["median"])
print(f"{st.median(a):.6f} {st.median(b):.6f} {st.median(ratios):.3f}")
PY
}

# met VALUE OP LIMIT: "yes" or "no" (OP is <= or >=).
met() {
	python3 -c "import sys; v,l=float(sys.argv[1]),float(sys.argv[3]); print('yes' if (v<=l if sys.argv[2]=='<=' else v>=l) else 'no')" "$1" "$2" "$3"
}

# raise_nofile: as many fds as the hard limit allows (up to 65536); 1,000 live
# children need about 2,000 fds in ned (pidfd + log pipe each).
raise_nofile() {
	local hard
	hard=$(ulimit -Hn)
	if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then
		ulimit -n 65536
	else
		ulimit -n "$hard"
	fi
}

# result BENCHMARK NED BASELINE RATIO TARGET MET: the tab-separated line
# run-all.sh turns into a row of its table.
result() {
	local IFS=$'\t'
	echo "RESULT	$*"
}
