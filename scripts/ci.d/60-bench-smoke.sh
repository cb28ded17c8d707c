#!/usr/bin/env bash
# The criterion benches must keep running, not only compiling: `cargo test --benches` runs every
# benchmark function once in criterion's test mode (debug build, reusing the test build; well
# under two minutes), so a bench whose setup breaks (e.g. the registry upsert stores fewer nodes
# than asked) fails CI. Measuring is `cargo bench -p gonka-benches`; the load harness is
# benches/load/compare.sh. Both are run by hand, never timed in CI; the load harness's scripts are
# only checked to parse (seconds): bash -n, their --help, and the Python helpers compile.
set -euo pipefail
cd "$(dirname "$0")/../.."
for script in benches/load/compare.sh benches/load/memory.sh benches/load/pair.sh; do
  bash -n "$script"
  bash "$script" --help > /dev/null
done
python3 -m py_compile benches/load/report.py benches/load/parse_wrk.py
# --workspace (not -p) keeps the features of the test build, so nothing is compiled twice.
cargo test --locked --workspace --benches
