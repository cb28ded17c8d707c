#!/usr/bin/env bash
# The cargo-fuzz targets must keep building and survive a short fuzzing run: every target in
# fuzz/Cargo.toml runs for FUZZ_CI_SECONDS (default 20) with libFuzzer and SanitizerCoverage
# instrumentation (scripts/fuzz.sh; works on the stable toolchain). Five targets x 20 s keep CI
# fuzzing near 2 minutes plus the instrumented build. A crash fails the step and leaves the input in
# fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The plain build first: a compile error shows here without the instrumentation noise.
cargo build --locked --manifest-path fuzz/Cargo.toml --bins
bash scripts/fuzz.sh "${FUZZ_CI_SECONDS:-20}"
