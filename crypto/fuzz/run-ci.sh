#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, 20 by default), starting
# from the committed corpus in corpus/<target>/. Used by CI; see README.md.
#
# Works with the stable toolchain alone: cargo-fuzz passes nightly-only flags (-Z sanitizer,
# coverage instrumentation), which RUSTC_BOOTSTRAP=1 lets stable rustc accept. Stable ships
# the AddressSanitizer runtime for x86_64 Linux.
#
# Targets run side by side, one per core: each is single-threaded, so this halves the wall
# time on a 2-core machine. New inputs go to a scratch directory, not into corpus/.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
# A target directory of its own: the sanitizer flags would otherwise rebuild the workspace's.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target}

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cargo fuzz build
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

run() {
  local target=$1
  mkdir -p "$scratch/$target"
  if cargo fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 >"$scratch/$target.log" 2>&1; then
    echo "fuzz $target: ok ($(grep -o 'Done [0-9]* runs' "$scratch/$target.log" || echo 'no count'))"
  else
    echo "fuzz $target: FAILED; the crashing input is in artifacts/$target/"
    tail -n 40 "$scratch/$target.log"
    return 1
  fi
}
export -f run
export scratch seconds

cargo fuzz list | xargs -P "$(nproc)" -I{} bash -c 'run {}'
