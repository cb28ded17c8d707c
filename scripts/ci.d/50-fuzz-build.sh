#!/usr/bin/env bash
# The cargo-fuzz targets must keep building. Without a nightly toolchain this is a plain (uninstrumented)
# build of the same code; `cargo +nightly fuzz run node_config` fuzzes it for real.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked --manifest-path fuzz/Cargo.toml --bins
