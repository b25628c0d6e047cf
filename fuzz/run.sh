#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (docs/fuzzing.md); .ci/run
# calls it. Skips, saying why, only when no nightly toolchain exists;
# installs cargo-fuzz when it is missing. New inputs go to a scratch
# directory, so a CI run never changes the corpora in the repository.
# FUZZ_SECONDS (default 15) is the time per target: 8 targets, about two
# minutes with a built fuzz/target.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly --version >/dev/null 2>&1; then
	echo "fuzz: skipped: no nightly toolchain (cargo fuzz needs -Zsanitizer; rustup toolchain install nightly)"
	exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
	echo "fuzz: installing cargo-fuzz (not found)"
	cargo install --locked cargo-fuzz
fi
secs=${FUZZ_SECONDS:-15}
export CARGO_TARGET_DIR="$PWD/fuzz/target"
cargo +nightly fuzz build
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in $(cargo +nightly fuzz list); do
	echo "fuzz: $t for ${secs}s"
	mkdir -p "$scratch/$t"
	log="$scratch/$t.log"
	if ! cargo +nightly fuzz run "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
		-max_total_time="$secs" >"$log" 2>&1; then
		tail -40 "$log" >&2
		echo "fuzz: $t failed: the crashing input is in fuzz/artifacts/$t/" >&2
		exit 1
	fi
	grep -E '^Done' "$log"
done
