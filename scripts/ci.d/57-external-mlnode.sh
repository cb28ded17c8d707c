#!/usr/bin/env bash
# An integrator's view of gonka-mlnode: examples/external/mlnode-embed is a crate outside the
# workspace (its own Cargo.lock, built --locked) that plugs its own InferenceBackend into the ML
# node agent and checks it with gonka_core::testing::backend_suite and the management API.
# CARGO_TARGET_DIR points at the workspace's target/ so dependencies already built are reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"
cd examples/external/mlnode-embed
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" cargo test --locked
