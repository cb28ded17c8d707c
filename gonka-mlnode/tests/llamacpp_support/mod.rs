//! Helpers of the tests that run the real llama.cpp `llama-server` (path in `LLAMA_SERVER`, see
//! scripts/llama-server.sh) on a tiny random model written by [`gonka_mlnode::gguf::TinyLlama`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gonka_mlnode::engine::EngineKind;
use gonka_mlnode::gguf::TinyLlama;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

/// The governance name the tiny model is served under (`--alias`), as the network node checks it.
pub const MODEL: &str = "Qwen/Qwen3-32B-FP8";

/// What the default tiny model (`TinyLlama::default()`, seed 0) answers to "Hello!" with
/// `temperature: 0, max_tokens: 12`. Obtained by running this request once against llama-server
/// 11434 (scripts/llama-server.sh) and copying the answer; greedy decoding makes it exact.
pub const EXPECTED_HELLO: &str = " unti6 yesterd simp network personal mac fir unt fire forei morn";

/// Engine arguments that keep llama-server small and fast on a 2-core machine.
pub const FAST_ARGS: &[&str] = &["-c", "2048", "-np", "2", "-t", "1", "--metrics"];

/// The llama-server binary, or `None` after printing the skip reason.
pub fn llama_server() -> Option<String> {
    match std::env::var("LLAMA_SERVER") {
        Ok(path) if !path.is_empty() => Some(path),
        _ => {
            println!("skipped: LLAMA_SERVER unset (run scripts/llama-server.sh)");
            None
        }
    }
}

/// Writes the default tiny model (2 layers, dim 64, seed 0) into `dir`.
pub fn tiny_model(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.gguf");
    TinyLlama::default().write_to(&path).unwrap();
    path
}

/// An ML node config running `launcher` as `kind` with `files`, with fast supervision settings.
pub fn engine_config(
    kind: EngineKind,
    launcher: &str,
    files: BTreeMap<String, PathBuf>,
) -> MlNodeConfig {
    let mut config = MlNodeConfig {
        engine: kind,
        engine_cmd: Some(launcher.to_owned()),
        model_files: files,
        grace_period: Duration::from_secs(5),
        startup_timeout: Duration::from_secs(60),
        poll_interval: Duration::from_millis(10),
        health_interval: Duration::from_millis(200),
        drain_timeout: Duration::from_millis(500),
        ..MlNodeConfig::default()
    };
    config.backoff.initial = Duration::from_millis(50);
    config.backoff.max = Duration::from_millis(200);
    config
}

/// A llama.cpp ML node serving the tiny model at `path` as [`MODEL`].
pub fn llamacpp_config(server: &str, path: &Path) -> MlNodeConfig {
    engine_config(
        EngineKind::Llamacpp,
        server,
        BTreeMap::from([(MODEL.to_owned(), path.to_path_buf())]),
    )
}

/// The body of `POST /api/v1/inference/up` for [`MODEL`] with `args`.
pub fn up_body(args: &[&str]) -> Value {
    json!({"model": MODEL, "dtype": "auto", "additional_args": args})
}

/// A greedy chat request (deterministic output for a given model file).
pub fn greedy_chat(stream: bool, max_tokens: u32) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "Hello!"}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    })
}

/// The `pid` of the first engine in a state report.
pub fn pid_of(state: &Value) -> u32 {
    u32::try_from(state["pid"].as_u64().expect("state has a pid")).unwrap()
}

/// A port on 127.0.0.1 that was free a moment ago (every test using this module has `common`).
#[allow(unused_imports)]
pub use crate::common::free_port;
