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
//!   prefix, [`version_prefix`]); [`gpu`] and [`models_cache`] the host queries.
//! - [`poc`] computes Proof-of-Compute v2 nonces and posts them to the network node.
//! - [`gguf`] writes GGUF files, e.g. the tiny random llama model tests and the devnet serve
//!   with a real llama.cpp `llama-server` on CPU.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent;
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;
mod config;
pub mod engine;
pub mod gguf;
pub mod gpu;
mod http_client;
pub mod mgmt;
pub mod models_cache;
mod openai_error;
pub mod poc;
pub mod proxy;
mod run;
pub mod simulator;
pub mod version_prefix;

pub use config::MlNodeConfig;
pub use run::{run, run_agent, RunError};

pub(crate) use http_client::http_client;
