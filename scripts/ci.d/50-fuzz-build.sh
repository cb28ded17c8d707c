#!/usr/bin/env bash
# The cargo-fuzz targets must keep building and survive a short fuzzing run: every target in
# fuzz/Cargo.toml runs for FUZZ_CI_SECONDS (default 10) with libFuzzer and SanitizerCoverage
# instrumentation (scripts/fuzz.sh; works on the stable toolchain). The instrumented build is a
# second dependency tree; on CI it is optimised at opt-level 1 (CARGO_PROFILE_RELEASE_OPT_LEVEL),
# enough for a smoke run and cheaper to compile than opt-level 3 (scripts/fuzz.sh run by hand
# keeps 3). Five targets x 10 s keep CI fuzzing under a minute plus the build. A crash fails the
# step and leaves the input in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${CI:-}" = true ]; then
  export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-1}"
fi
bash scripts/fuzz.sh "${FUZZ_CI_SECONDS:-10}"
# The instrumented build is ~1-3 GB and nothing later reuses it: free the disk on CI machines.
if [ "${CI:-}" = true ]; then rm -rf fuzz/target; fi
