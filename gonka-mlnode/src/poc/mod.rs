//! Proof-of-Compute v2 on the ML node (docs/poc-v2.md §2–§4): the [`PocCompute`] backends, the
//! [`PocRunner`] that generates this node's nonces off the async runtime and delivers them to the
//! network node's callback in batches with retries, and the `/api/v1/inference/pow/*` routes.
//!
//! - [`compute`]: [`PocCompute`] / [`PreparedRound`] and the CPU reference backend
//!   [`TinyModelCompute`] (a small random-weight network generated from the block hash); a
//!   re-export of [`gonka_core::poc::backend`], which the network node shares.
//! - `gguf_llama` (feature `candle`): `GgufLlamaCompute`, PoC over the served GGUF llama model
//!   on candle.
//! - [`runner`]: one round at a time; `/stop` ends generation within one batch.
//! - [`wire`]: the JSON of requests, status and the `generated` callback (a re-export of
//!   [`gonka_core::poc::wire`]).
//! - sender: `{url}/generated` every `callback_interval`, retried with doubling pauses.
//! - [`queue`]: `/generate` jobs queued and computed one by one in the background, their
//!   results POSTed to `{url}/validated` / `{url}/generated` and kept for
//!   `GET /api/v1/inference/pow/generate/{port}:{id}` (upstream's engine queue).
//! - [`PocTarget`] (dispatch): which model computes ([`PocModel`]): the vLLM engine itself
//!   ([`forward`]: the calls forwarded as upstream's ML node forwards them), the served GGUF
//!   ([`ServedGgufCompute`]) or the explicitly chosen tiny model / model file.

mod callbacks;
mod dispatch;
pub mod forward;
mod generate;
#[cfg(feature = "candle")]
#[cfg_attr(docsrs, doc(cfg(feature = "candle")))]
pub mod gguf_llama;
mod job;
pub mod queue;
mod routes;
pub mod runner;
mod sender;
mod served;
mod settings;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use gonka_core::mlnode_api::paths;

pub use dispatch::PocTarget;
pub use forward::EngineForwarder;
#[cfg(feature = "candle")]
#[cfg_attr(docsrs, doc(cfg(feature = "candle")))]
pub use gguf_llama::{GgufLlama, GgufLlamaCompute};
pub use gonka_core::poc::backend as compute;
pub use gonka_core::poc::wire;
pub use gonka_core::poc::{ModelRound, PocCompute, PreparedRound, TinyModelCompute};
pub use queue::{GenerateQueue, QueueFull};
pub use runner::{PocRunError, PocRunner, StartOutcome};
pub use served::ServedGgufCompute;
pub use settings::{PocModel, PocModelError, PocSettings};

use crate::agent::Agent;

/// The PoC routes, to merge into the management API (behind its token).
pub fn routes() -> Router<Arc<Agent>> {
    Router::new()
        .route(paths::POW_INIT_GENERATE, post(dispatch::init_generate))
        .route(paths::POW_GENERATE, post(dispatch::generate))
        .route(paths::POW_GENERATE_RESULT, get(dispatch::generate_result))
        .route(paths::POW_STATUS, get(dispatch::status))
        .route(paths::POW_STOP, post(dispatch::stop))
        .route(paths::STOP, post(routes::stop_all))
}
