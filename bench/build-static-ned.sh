#!/bin/sh
# Builds a statically linked ned (static-pie, glibc's libc.a), the binary a
# `FROM scratch` container image or an OCI rootfs holds as PID 1.
#
# Usage: bench/build-static-ned.sh
# Prints the binary's path: $CARGO_TARGET_DIR (default target/) /
# x86_64-unknown-linux-gnu/release/ned. An explicit --target keeps the
# static RUSTFLAGS away from build scripts and proc macros, which must stay
# dynamic.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../target}
cd "$here/.."
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release \
	--target x86_64-unknown-linux-gnu -p ned
out="$target/x86_64-unknown-linux-gnu/release/ned"
ldd "$out" 2>&1 | grep -qE 'statically linked|not a dynamic' ||
	{ echo "build-static-ned: $out is not static" >&2; exit 1; }
echo "$out"
