#!/usr/bin/env bash
# The project's one test command (README "Quick start", and what .ci/run runs):
# formatting, clippy with warnings as errors, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --workspace --locked
