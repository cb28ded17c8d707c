#!/usr/bin/env bash
# The "done when" of issue 12 for the gateway: a crate outside the workspace
# (examples/external/gateway-embed, its own workspace root and Cargo.lock) depends on
# gonka-gateway without default features, plugs in its own Scheduler and serves OpenAI requests
# to fake ML nodes on loopback, checking that its picks are honoured. Built into the workspace's
# target/ so the shared dependencies are not compiled again.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="$PWD/target"
manifest=examples/external/gateway-embed/Cargo.toml
cargo fmt --manifest-path "$manifest" --check
cargo clippy --locked --manifest-path "$manifest" --all-targets -- -D warnings
cargo test --locked --manifest-path "$manifest"
