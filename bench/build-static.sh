#!/bin/sh
# Builds bench/static-true.c into a static binary that just exits 0, the
# "short-lived static program" of the start benchmark.
#
# Usage: bench/build-static.sh [OUTPUT]
# Default OUTPUT: $CARGO_TARGET_DIR/bench/static-true (or target/bench/...).
# Uses static glibc (gcc -static) when libc.a is installed; otherwise a
# -nostdlib build whose _start makes the exit_group system call.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../target}
out=${1:-$target/bench/static-true}
cc=${CC:-gcc}
mkdir -p "$(dirname "$out")"

if [ -n "$("$cc" -print-file-name=libc.a | grep /)" ] &&
	"$cc" -static -O2 -s -o "$out" "$here/static-true.c" 2>/dev/null; then
	kind="static glibc"
else
	"$cc" -DNED_NOSTDLIB -static -nostdlib -O2 -s -o "$out" "$here/static-true.c"
	kind="-nostdlib"
fi
"$out"
echo "built $out ($kind, $(wc -c <"$out") bytes)"
