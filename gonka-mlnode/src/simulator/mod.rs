//! The simulator engine: an in-process OpenAI-compatible server for development, tests and load
//! benchmarks, no GPU needed.
//!
//! Serves `/v1/models`, `/v1/chat/completions` and `/v1/completions` (streaming SSE ending in
//! `data: [DONE]`, and not), `usage` filled in, `/health`, plus two control endpoints for fault
//! tests: `GET /sim/stats` (`{"in_flight", "requests_total"}`) and `PUT /sim/faults` (a
//! [`FaultConfig`] as JSON). Like vLLM's sleep mode (started with `--enable-sleep-mode`), it
//! serves `POST /sleep` (any `level`), `POST /wake_up` and `GET /is_sleeping`; while asleep the
//! completion and embedding routes answer `503` (`engine_sleeping`). Output is deterministic:
//! the text depends only on the seed (the request's `seed`, else [`SimulatorConfig::seed`]) and
//! the token count. The hot path allocates one buffer per SSE event and none per token choice.

mod config;
mod embeddings;
mod handlers;
mod request;
mod sse;
mod text;
mod tokenize;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use axum::routing::{get, post, put};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use config::{FaultConfig, SimulatorConfig};

/// A running simulator's shared state: configuration, live fault settings and counters.
#[derive(Debug)]
pub struct Simulator {
    config: SimulatorConfig,
    faults: RwLock<FaultConfig>,
    in_flight: Arc<AtomicUsize>,
    requests: AtomicU64,
    limiter: Option<Arc<Semaphore>>,
    sleeping: AtomicBool,
}

impl Simulator {
    /// A simulator with `config` (faults start as `config.faults`).
    pub fn new(config: SimulatorConfig) -> Arc<Self> {
        let limiter =
            (config.max_concurrency > 0).then(|| Arc::new(Semaphore::new(config.max_concurrency)));
        Arc::new(Self {
            faults: RwLock::new(config.faults.clone()),
            config,
            in_flight: Arc::new(AtomicUsize::new(0)),
            requests: AtomicU64::new(0),
            limiter,
            sleeping: AtomicBool::new(false),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &SimulatorConfig {
        &self.config
    }

    /// Requests received and not yet finished (queued, hanging or streaming). A request whose
    /// client went away stops counting as soon as its connection is dropped.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Completion requests received since start.
    pub fn requests_total(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Replaces the fault settings for the following requests.
    pub fn set_faults(&self, faults: FaultConfig) {
        *self.faults.write().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// The current fault settings.
    pub fn faults(&self) -> FaultConfig {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether it is asleep (`POST /sleep` and no `POST /wake_up` since).
    pub fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::SeqCst)
    }

    /// Puts it to sleep (`true`) or wakes it (`false`).
    pub fn set_sleeping(&self, sleeping: bool) {
        self.sleeping.store(sleeping, Ordering::SeqCst);
    }

    fn enter(&self) -> InFlightGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(Arc::clone(&self.in_flight))
    }
}

/// Decrements the in-flight count when dropped.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The simulator's routes on `sim`.
pub fn router(sim: Arc<Simulator>) -> Router {
    Router::new()
        .route("/health", get(handlers::health))
        .route("/v1/models", get(handlers::models))
        .route("/v1/chat/completions", post(handlers::chat))
        .route("/v1/completions", post(handlers::completion))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/tokenize", post(tokenize::tokenize))
        .route("/sim/stats", get(handlers::stats))
        .route("/sleep", post(handlers::sleep))
        .route("/wake_up", post(handlers::wake_up))
        .route("/is_sleeping", get(handlers::is_sleeping))
        .route("/metrics", get(handlers::metrics))
        .route(
            "/sim/faults",
            put(handlers::set_faults).get(handlers::get_faults),
        )
        .with_state(sim)
}

/// Serves `sim` on `listener` until `shutdown` resolves; open streams are cut at shutdown.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve(
    listener: TcpListener,
    sim: Arc<Simulator>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    gonka_core::server::serve_until(listener, router(sim), shutdown).await
}

/// Serves a new simulator built from `config` on `listener` until `shutdown` resolves.
///
/// # Errors
/// I/O errors of the listener.
pub async fn serve_simulator(
    listener: TcpListener,
    config: SimulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(listener, Simulator::new(config), shutdown).await
}
