#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (default 60): `scripts/fuzz.sh 60`.
#
# With cargo-fuzz installed it runs `cargo fuzz run <target> -- -max_total_time=N` (nightly, or
# stable with RUSTC_BOOTSTRAP=1). Without it, it builds the targets itself with the same
# SanitizerCoverage flags cargo-fuzz passes (they work on the stable compiler), into
# fuzz/target/instrumented, and runs each libFuzzer binary with -max_total_time=N over its corpus
# in fuzz/corpus/<target> (created if missing; new inputs are kept there). A crash stops the script
# with a non-zero status and leaves the input in fuzz/artifacts/<target>/.
#
# Environment: FUZZ_TARGETS="a b" restricts the targets; FUZZ_JOBS (default 1) runs libFuzzer
# workers in parallel; FUZZ_RSS_MB (default 2048) is libFuzzer's -rss_limit_mb.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
case "$seconds" in ''|*[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;; esac

targets="${FUZZ_TARGETS:-$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^gonka-fuzz$')}"
rss="${FUZZ_RSS_MB:-2048}"
jobs="${FUZZ_JOBS:-1}"
libfuzzer_args=(-max_total_time="$seconds" -rss_limit_mb="$rss" -timeout=10 -print_final_stats=1)

if cargo fuzz --version >/dev/null 2>&1; then
  for t in $targets; do
    echo "== fuzzing $t for ${seconds}s (cargo fuzz)"
    RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}" cargo fuzz run --fuzz-dir fuzz -j "$jobs" "$t" -- \
      "${libfuzzer_args[@]}"
  done
  exit 0
fi

echo "cargo-fuzz not installed: building the targets with SanitizerCoverage flags on this toolchain"
export CARGO_TARGET_DIR="$PWD/fuzz/target/instrumented"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (as cargo-fuzz does).
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --locked --release --target "$triple" --manifest-path fuzz/Cargo.toml --bins
parallel=()
if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi

for t in $targets; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzzing $t for ${seconds}s"
  "$CARGO_TARGET_DIR/$triple/release/$t" "${libfuzzer_args[@]}" -artifact_prefix="$artifacts/" \
    "${parallel[@]}" "$corpus"
done
