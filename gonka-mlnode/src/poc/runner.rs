//! [`PocRunner`]: one PoC generation round at a time. Nonces are computed on a blocking thread
//! (never on the async runtime), batch by batch, until `/stop` (the thread checks between
//! batches, so it ends within one batch) or the nonce space ends; a sender task delivers them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gonka_core::poc::compute::{Artifact, RoundParams};
use gonka_core::poc::encoding::K_DIM;
use gonka_core::poc::nonce::NonceAssignment;
use tokio::sync::Notify;

use super::compute::PreparedRound;
use super::queue::GenerateQueue;
use super::sender::run_sender;
use super::wire::{Encoding, GeneratedPayload, InitGenerateRequest, PowBackend, PowStatus};
use super::PocSettings;

/// Why a PoC request was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PocRunError {
    /// A parameter is invalid; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// Another round is generating; stop it first.
    #[error("{0}")]
    Conflict(String),
    /// The compute backend failed.
    #[error("PoC compute failed: {0}")]
    Compute(String),
}

/// State shared by the compute thread, the sender and status queries.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    buffer: Mutex<VecDeque<Artifact>>,
    pub(crate) stop: AtomicBool,
    pub(crate) finished: AtomicBool,
    pub(crate) done: Notify,
    pub(crate) computed: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// Takes up to `max` of the oldest buffered artifacts.
    pub(crate) fn take(&self, max: usize) -> Vec<Artifact> {
        let mut buffer = lock(&self.buffer);
        let n = buffer.len().min(max.max(1));
        buffer.drain(..n).collect()
    }

    pub(crate) fn buffered(&self) -> usize {
        lock(&self.buffer).len()
    }

    fn push(&self, artifacts: Vec<Artifact>, capacity: usize) {
        let n = artifacts.len() as u64;
        let mut buffer = lock(&self.buffer);
        buffer.extend(artifacts);
        let mut over = 0u64;
        while buffer.len() > capacity.max(1) {
            buffer.pop_front();
            over += 1;
        }
        drop(buffer);
        self.computed.fetch_add(n, Ordering::SeqCst);
        self.pending.fetch_add(n - over, Ordering::SeqCst);
        self.dropped.fetch_add(over, Ordering::SeqCst);
    }

    pub(crate) fn set_error(&self, e: String) {
        *lock(&self.last_error) = Some(e);
    }
}

#[derive(Debug)]
struct Round {
    request: InitGenerateRequest,
    shared: Arc<Shared>,
}

/// Runs PoC generation rounds for one ML node, and holds its `/generate` job queue.
#[derive(Debug)]
pub struct PocRunner {
    settings: PocSettings,
    client: reqwest::Client,
    round: Arc<Mutex<Option<Round>>>,
    queue: GenerateQueue,
}

/// What `init/generate` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// A new round started.
    Started,
    /// The same round was already generating; nothing changed.
    AlreadyRunning,
}

impl PocRunner {
    /// A runner with `settings` and no round.
    pub fn new(settings: PocSettings) -> Self {
        let round: Arc<Mutex<Option<Round>>> = Arc::default();
        let seen = Arc::clone(&round);
        let queue =
            GenerateQueue::new(settings.clone(), Arc::new(move || generating(&lock(&seen))));
        Self {
            settings,
            client: crate::http_client(),
            round,
            queue,
        }
    }

    /// The `/generate` job queue (its jobs wait while a round generates).
    pub fn queue(&self) -> &GenerateQueue {
        &self.queue
    }

    /// The settings.
    pub fn settings(&self) -> &PocSettings {
        &self.settings
    }

    /// Whether a round is generating now.
    pub fn is_generating(&self) -> bool {
        generating(&lock(&self.round))
    }

    /// Starts generating `request`'s nonces (see the module docs). Must be called inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`PocRunError::Invalid`] naming a bad field; [`PocRunError::Conflict`] when a different
    /// round is generating; [`PocRunError::Compute`] when the backend cannot prepare the round.
    pub async fn start(&self, request: InitGenerateRequest) -> Result<StartOutcome, PocRunError> {
        check(&request)?;
        if let Some(r) = lock(&self.round).as_ref() {
            if !r.shared.finished.load(Ordering::SeqCst) {
                if same_round(&r.request, &request) {
                    return Ok(StartOutcome::AlreadyRunning);
                }
                return Err(PocRunError::Conflict(format!(
                    "PoC is already generating for block {} (height {}); POST /api/v1/inference/pow/stop first",
                    r.request.block_hash, r.request.block_height
                )));
            }
        }
        let assignment = NonceAssignment::new(request.node_id, request.node_count, 0, 1)
            .map_err(|e| PocRunError::Invalid(e.to_string()))?;
        let compute = Arc::clone(&self.settings.compute);
        let model = request.params.model.clone();
        let params = RoundParams {
            block_hash: request.block_hash.clone(),
            public_key: request.public_key.clone(),
            seq_len: request.params.seq_len,
            stronger_rng: request.poc_stronger_rng,
        };
        let prepared = tokio::task::spawn_blocking(move || compute.prepare(&model, params))
            .await
            .map_err(|e| PocRunError::Compute(e.to_string()))?
            .map_err(|e| match e {
                gonka_core::poc::error::PocError::InvalidParams(m) => PocRunError::Invalid(m),
                other => PocRunError::Compute(other.to_string()),
            })?;

        let shared = Arc::new(Shared::default());
        {
            let mut slot = lock(&self.round);
            if let Some(r) = slot.as_ref() {
                if !r.shared.finished.load(Ordering::SeqCst) {
                    return Err(PocRunError::Conflict(
                        "another PoC round started meanwhile; POST /api/v1/inference/pow/stop first"
                            .into(),
                    ));
                }
            }
            *slot = Some(Round {
                request: request.clone(),
                shared: Arc::clone(&shared),
            });
        }
        tracing::info!(
            block_hash = %request.block_hash,
            block_height = request.block_height,
            node_id = request.node_id,
            node_count = request.node_count,
            model = %request.params.model,
            backend = self.settings.compute.name(),
            "PoC generation started"
        );
        let template = GeneratedPayload {
            public_key: request.public_key.clone(),
            block_hash: request.block_hash.clone(),
            block_height: request.block_height,
            node_id: request.node_id,
            artifacts: Vec::new(),
            encoding: Encoding::default(),
            request_id: None,
        };
        tokio::spawn(run_sender(
            Arc::clone(&shared),
            self.settings.clone(),
            self.client.clone(),
            request.url.clone(),
            template,
        ));
        let capacity = self.settings.buffer_capacity;
        let batch_size = request.batch_size;
        tokio::task::spawn_blocking(move || {
            generate(&*prepared, &assignment, batch_size, capacity, &shared)
        });
        Ok(StartOutcome::Started)
    }

    /// Stops generation (within one batch); artifacts already computed are still delivered.
    /// Returns whether a round was generating.
    pub fn stop(&self) -> bool {
        match lock(&self.round).as_ref() {
            Some(r) if !r.shared.finished.load(Ordering::SeqCst) => {
                r.shared.stop.store(true, Ordering::SeqCst);
                tracing::info!(block_hash = %r.request.block_hash, "PoC generation stopping");
                true
            }
            _ => false,
        }
    }

    /// `GET /api/v1/inference/pow/status`.
    pub fn status(&self) -> PowStatus {
        let round = lock(&self.round);
        let generating = round
            .as_ref()
            .is_some_and(|r| !r.shared.finished.load(Ordering::SeqCst));
        let get = |f: fn(&Shared) -> &AtomicU64| {
            round
                .as_ref()
                .map_or(0, |r| f(&r.shared).load(Ordering::SeqCst))
        };
        let status = if generating { "GENERATING" } else { "IDLE" };
        PowStatus {
            status: status.into(),
            backends: vec![PowBackend {
                port: PowBackend::IN_PROCESS_PORT,
                status: status.into(),
            }],
            block_hash: round.as_ref().map(|r| r.request.block_hash.clone()),
            block_height: round.as_ref().map(|r| r.request.block_height),
            computed: get(|s| &s.computed),
            delivered: get(|s| &s.delivered),
            pending: get(|s| &s.pending),
            dropped: get(|s| &s.dropped),
            last_error: round
                .as_ref()
                .and_then(|r| lock(&r.shared.last_error).clone()),
        }
    }
}

impl Drop for PocRunner {
    /// A dropped runner (agent shut down) stops its generation thread within one batch, so a
    /// process never waits on it at exit.
    fn drop(&mut self) {
        if let Some(r) = lock(&self.round).as_ref() {
            r.shared.stop.store(true, Ordering::SeqCst);
        }
    }
}

fn generate(
    prepared: &dyn PreparedRound,
    assignment: &NonceAssignment,
    batch_size: usize,
    capacity: usize,
    shared: &Shared,
) {
    let mut batch = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        let nonces = assignment.batch(batch, batch_size);
        if nonces.is_empty() {
            tracing::info!("PoC nonce space exhausted");
            break;
        }
        match prepared.compute(&nonces) {
            Ok(artifacts) => shared.push(artifacts, capacity),
            Err(e) => {
                tracing::error!(error = %e, "PoC batch failed; generation stops");
                shared.set_error(e.to_string());
                break;
            }
        }
        batch += 1;
    }
    shared.finished.store(true, Ordering::SeqCst);
    shared.done.notify_one();
    tracing::info!(
        computed = shared.computed.load(Ordering::SeqCst),
        "PoC generation ended"
    );
}

fn generating(round: &Option<Round>) -> bool {
    round
        .as_ref()
        .is_some_and(|r| !r.shared.finished.load(Ordering::SeqCst))
}

fn same_round(a: &InitGenerateRequest, b: &InitGenerateRequest) -> bool {
    a.block_hash == b.block_hash
        && a.block_height == b.block_height
        && a.public_key == b.public_key
        && a.node_id == b.node_id
        && a.params == b.params
}

fn check(r: &InitGenerateRequest) -> Result<(), PocRunError> {
    let bad = |m: String| Err(PocRunError::Invalid(m));
    if r.block_hash.is_empty() {
        return bad("block_hash must not be empty".into());
    }
    if r.public_key.is_empty() {
        return bad("public_key must not be empty".into());
    }
    if r.node_id >= r.node_count {
        return bad(format!(
            "node_id {} must be below node_count {}",
            r.node_id, r.node_count
        ));
    }
    if r.batch_size == 0 || r.batch_size > 4096 {
        return bad(format!(
            "batch_size must be between 1 and 4096, got {}",
            r.batch_size
        ));
    }
    if r.params.k_dim != K_DIM {
        return bad(format!(
            "params.k_dim must be {K_DIM}, got {}",
            r.params.k_dim
        ));
    }
    if r.params.seq_len == 0 || r.params.seq_len > 8192 {
        return bad(format!(
            "params.seq_len must be between 1 and 8192, got {}",
            r.params.seq_len
        ));
    }
    if r.params.model.is_empty() {
        return bad("params.model must not be empty".into());
    }
    match reqwest::Url::parse(&r.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => bad(format!("url must be an http(s) URL, got {:?}", r.url)),
    }
}
