//! # gonka-mlnode
//!
//! The ML node agent that runs on every GPU server: the Gonka-compatible management API, the
//! supervisor of inference engine processes (vLLM, SGLang, llama.cpp), the in-process simulator
//! engine, GPU detection and the inference proxy; plus the `gonka-mlnode` binary.
//!
//! - [`run`] serves the management API and the inference proxy on two listeners until a
//!   shutdown future resolves, then stops every engine.
//! - [`agent::Agent`] is the state machine (STOPPED ↔ INFERENCE) over engine replicas.
//! - [`engine`] holds the engines: [`engine::ProcessBackend`] (vLLM, SGLang, llama.cpp, with
//!   supervision) and [`engine::SimulatorBackend`]; both implement
//!   [`gonka_core::InferenceBackend`].
//! - [`simulator`] is the OpenAI-compatible simulator, also usable standalone
//!   ([`simulator::serve_simulator`]).
//! - [`mgmt`] and [`proxy`] are the two routers (both also under upstream's `/{version}`
//!   prefix, [`version_prefix`]); [`gpu`] and [`models`] the host queries and model downloads.
//! - [`poc`] computes Proof-of-Compute v2 nonces and posts them to the network node.
//! - [`gguf`] writes GGUF files, e.g. the tiny random llama model tests and the devnet serve
//!   with a real llama.cpp `llama-server` on CPU.
//!
//! # Examples
//!
//! One engine on its own, through the [`gonka_core::InferenceBackend`] trait:
//!
//! ```
//! use std::time::Duration;
//! use gonka_core::{EngineHealth, InferenceBackend, LaunchSpec};
//! use gonka_mlnode::engine::SimulatorBackend;
//! use gonka_mlnode::simulator::SimulatorConfig;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> gonka_core::Result<()> {
//! let engine = SimulatorBackend::new(SimulatorConfig::default(), Duration::from_millis(100));
//! let spec = LaunchSpec { model: "Qwen/Qwen3-32B-FP8".into(), dtype: "auto".into(), args: vec![], port: 0 };
//! engine.start(&spec).await?;
//! assert_eq!(engine.health().await, EngineHealth::Ready);
//! assert!(engine.base_url().is_some());
//! engine.stop().await?;
//! # Ok(()) }
//! ```
//!
//! The whole agent, management API on `:8080` and inference proxy on `:5000`, until Ctrl-C
//! (for your own engine, build the agent with [`agent::Agent::with_factory`] and serve it with
//! [`run_agent`]):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mgmt = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let inference = tokio::net::TcpListener::bind("127.0.0.1:5000").await?;
//! let config = gonka_mlnode::MlNodeConfig::default();
//! gonka_mlnode::run(config, mgmt, inference, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent;
mod config;
pub mod discover;
pub mod engine;
pub mod gguf;
pub mod gpu;
mod http_client;
pub mod join;
pub mod metrics;
pub mod mgmt;
pub mod models;
mod openai_error;
pub mod poc;
pub mod proxy;
mod run;
pub mod simulator;
pub mod tasks;
pub mod version_prefix;

pub use config::MlNodeConfig;
pub use run::{run, run_agent, RunError};

pub(crate) use http_client::http_client;
