#!/usr/bin/env bash
# The candle PoC backend of gonka-mlnode sits behind the `candle` feature (candle takes minutes to
# compile, so the default build leaves it out). Keep it compiling, clippy clean and tested: the
# backend runs PoC v2 over the tiny generated GGUF llama model and must give bit-identical,
# validating artifacts; on a llama.cpp node `pow/generate` answers candle's artifacts over the very
# GGUF the engine serves (tests/poc_served_model.rs, llama-server from LLAMA_SERVER when set).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo clippy --locked -p gonka-mlnode --features candle --lib --tests -- -D warnings
cargo test --locked -p gonka-mlnode --features candle --lib poc::
cargo test --locked -p gonka-mlnode --features candle --test poc_queue_gguf
cargo test --locked -p gonka-mlnode --features candle --test poc_served_model
