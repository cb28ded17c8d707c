#!/usr/bin/env bash
# The cargo-fuzz targets must keep building and survive a short fuzzing run: every target in
# fuzz/Cargo.toml runs for FUZZ_CI_SECONDS (default 10) with libFuzzer and SanitizerCoverage
# instrumentation (scripts/fuzz.sh; works on the stable toolchain). Five targets x 10 s keep CI
# fuzzing under a minute plus the instrumented build (a second dependency tree: ~5 minutes of the
# step; building it at opt-level 1 instead of 3 saved nothing measurable). A crash fails the step
# and leaves the input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/fuzz.sh "${FUZZ_CI_SECONDS:-10}"
# The instrumented build is ~1-3 GB and nothing later reuses it: free the disk on CI machines.
if [ "${CI:-}" = true ]; then rm -rf fuzz/target; fi
