//! [`GenerateQueue`]: `/generate` jobs run one after another in the background, as upstream's
//! engine runs them (gonka-ai/vllm `vllm/poc/generate_queue.py`).
//!
//! - Bounded: at most `max_queued_nonces` nonces wait or run; a job that would pass it is
//!   refused ([`QueueFull`], answered 429) and nothing is queued.
//! - One worker task, started by the first job and ended when the queue is empty; it waits
//!   while a PoC generation round runs (the round has the compute to itself, as upstream's
//!   engine gives `init/generate` precedence) and computes each job on a blocking thread.
//! - Results are kept for `result_ttl` after the job ends, for
//!   `GET /api/v1/inference/pow/generate/{port}:{id}`; a job with a `url` also has its result
//!   POSTed to `{url}/validated` or `{url}/generated` by the `CallbackQueue`.
//! - [`GenerateQueue::clear`] (`/pow/stop`, `/api/v1/stop`) cancels the queued jobs and the
//!   running one (between two chunks), forgets every result and abandons pending callbacks,
//!   as upstream's `clear_queue` does.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::callbacks::CallbackQueue;
use super::job::{run, JobSpec, Work};
use super::wire::{GeneratedPayload, JobOutcome, JobStatus, ValidatedPayload};
use super::PocSettings;

/// Whether a PoC generation round is running now (jobs wait while it is).
pub(crate) type Busy = Arc<dyn Fn() -> bool + Send + Sync>;

/// How often a waiting job looks whether the generation round ended (upstream: 0.1 s).
pub(crate) const BUSY_POLL: Duration = Duration::from_millis(100);

/// Results kept at most; the oldest finished ones are forgotten beyond.
const MAX_RESULTS: usize = 10_000;

/// A job was refused because the queue holds too many nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Queue full: {queued} nonces queued, limit is {limit}")]
pub struct QueueFull {
    /// Nonces queued or running now.
    pub queued: usize,
    /// The limit (`max_queued_nonces`).
    pub limit: usize,
}

/// A job's record, as `GET .../pow/generate/{id}` reports it.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// Where the job is.
    pub status: JobStatus,
    /// The outcome once completed.
    pub outcome: Option<JobOutcome>,
    /// Why it failed.
    pub error: Option<String>,
    finished: Option<Instant>,
}

/// A waiting job. The round is prepared again when the job runs: a queue of many small jobs
/// never holds many prepared models at once.
struct Queued {
    id: String,
    spec: JobSpec,
    epoch: u64,
}

#[derive(Default)]
struct State {
    jobs: VecDeque<Queued>,
    /// Nonces of the queued jobs and the running one.
    queued_nonces: usize,
    /// Nonces of the running job (0 when none, or when it was cleared).
    running_nonces: usize,
    results: HashMap<String, Record>,
    epoch: u64,
    worker: bool,
}

struct Inner {
    settings: PocSettings,
    busy: Busy,
    callbacks: CallbackQueue,
    state: Mutex<State>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateQueue").finish_non_exhaustive()
    }
}

/// The `/generate` job queue of one ML node (see the module docs). Dropping it cancels its
/// jobs.
#[derive(Debug)]
pub struct GenerateQueue {
    inner: Arc<Inner>,
}

impl GenerateQueue {
    /// A queue with `settings`' limits and callback retries; jobs wait while `busy` says a
    /// generation round runs.
    pub(crate) fn new(settings: PocSettings, busy: Busy) -> Self {
        let callbacks = CallbackQueue::new(settings.clone(), crate::http_client());
        Self {
            inner: Arc::new(Inner {
                settings,
                busy,
                callbacks,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Queues `spec` and returns its id (without a port prefix). The caller has checked that
    /// its round prepares. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`QueueFull`] when its nonces would pass `max_queued_nonces`; nothing is queued then.
    pub(crate) fn enqueue(&self, spec: JobSpec) -> Result<String, QueueFull> {
        let limit = self.inner.settings.max_queued_nonces;
        let id = super::job::new_id();
        let mut state = self.inner.lock();
        let n = spec.nonces.len();
        if state.queued_nonces + n > limit {
            return Err(QueueFull {
                queued: state.queued_nonces,
                limit,
            });
        }
        state.queued_nonces += n;
        state.results.insert(
            id.clone(),
            Record {
                status: JobStatus::Queued,
                outcome: None,
                error: None,
                finished: None,
            },
        );
        let epoch = state.epoch;
        state.jobs.push_back(Queued {
            id: id.clone(),
            spec,
            epoch,
        });
        if !state.worker {
            state.worker = true;
            tokio::spawn(worker(Arc::clone(&self.inner)));
        }
        Ok(id)
    }

    /// The record of job `id`, `None` when unknown, expired or cleared.
    pub(crate) fn record(&self, id: &str) -> Option<Record> {
        let mut state = self.inner.lock();
        forget_expired(&mut state, self.inner.settings.result_ttl);
        state.results.get(id).cloned()
    }

    /// Nonces queued or running now.
    pub fn queued_nonces(&self) -> usize {
        self.inner.lock().queued_nonces
    }

    /// Cancels every queued job and the running one, forgets every result and abandons
    /// pending callbacks. Returns how many jobs were queued or running.
    pub fn clear(&self) -> usize {
        let mut state = self.inner.lock();
        let running = usize::from(state.running_nonces > 0);
        let dropped = state.jobs.len() + running;
        let queued: usize = state.jobs.drain(..).map(|j| j.spec.nonces.len()).sum();
        // The running job ends at its next chunk; its nonces are free from now on.
        state.queued_nonces = state
            .queued_nonces
            .saturating_sub(queued + state.running_nonces);
        state.running_nonces = 0;
        state.results.clear();
        state.epoch += 1;
        drop(state);
        self.inner.callbacks.clear();
        if dropped > 0 {
            tracing::info!(jobs = dropped, "PoC /generate queue cleared");
        }
        dropped
    }
}

impl Drop for GenerateQueue {
    /// The agent is gone: its jobs are cancelled so the worker ends.
    fn drop(&mut self) {
        self.clear();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn cancelled(&self, epoch: u64) -> bool {
        self.lock().epoch != epoch
    }
}

fn forget_expired(state: &mut State, ttl: Duration) {
    state
        .results
        .retain(|_, r| r.finished.is_none_or(|t| t.elapsed() <= ttl));
    while state.results.len() > MAX_RESULTS {
        let oldest = state
            .results
            .iter()
            .filter_map(|(id, r)| r.finished.map(|t| (t, id.clone())))
            .min();
        match oldest {
            Some((_, id)) => state.results.remove(&id),
            None => break,
        };
    }
}

/// Takes jobs one by one until the queue is empty.
async fn worker(inner: Arc<Inner>) {
    tracing::debug!("PoC /generate worker started");
    loop {
        let job = {
            let mut state = inner.lock();
            match state.jobs.pop_front() {
                Some(job) => {
                    if let Some(r) = state.results.get_mut(&job.id) {
                        r.status = JobStatus::Running;
                    }
                    state.running_nonces = job.spec.nonces.len();
                    job
                }
                None => {
                    state.worker = false;
                    tracing::debug!("PoC /generate worker idle");
                    return;
                }
            }
        };
        process(&inner, job).await;
    }
}

async fn process(inner: &Arc<Inner>, job: Queued) {
    let Queued { id, spec, epoch } = job;
    let n = spec.nonces.len();
    // The generation round has the compute to itself; the bound is the round's own end (or a
    // clear, which ends this job).
    while (inner.busy)() && !inner.cancelled(epoch) {
        tokio::time::sleep(BUSY_POLL).await;
    }
    let check = Arc::clone(inner);
    let compute = Arc::clone(&inner.settings.compute);
    let spec = Arc::new(spec);
    let run_spec = Arc::clone(&spec);
    let result = tokio::task::spawn_blocking(move || {
        let cancelled = || check.cancelled(epoch);
        if cancelled() {
            return Err("Job cancelled".to_owned());
        }
        let prepared = compute
            .prepare(&run_spec.model, run_spec.round.clone())
            .map_err(super::job::plain)?;
        run(
            prepared.as_ref(),
            &run_spec.nonces,
            run_spec.batch_size,
            &run_spec.work,
            &cancelled,
        )
    })
    .await
    .unwrap_or_else(|e| Err(format!("PoC compute task failed: {e}")));

    let mut state = inner.lock();
    if state.epoch != epoch {
        // Cleared meanwhile: `clear` already freed its nonces and forgot its record.
        return;
    }
    state.queued_nonces = state.queued_nonces.saturating_sub(n);
    state.running_nonces = 0;
    let Some(record) = state.results.get_mut(&id) else {
        return;
    };
    record.finished = Some(Instant::now());
    match result {
        Ok(outcome) => {
            tracing::info!(request_id = %id, nonces = n, "PoC /generate job completed");
            record.status = JobStatus::Completed;
            record.outcome = Some(outcome.clone());
            if let Some(url) = &spec.meta.url {
                if let Some((path, body)) = callback(&id, &spec, outcome) {
                    inner.callbacks.enqueue(url, path, body);
                }
            }
        }
        Err(e) => {
            tracing::warn!(request_id = %id, error = %e, "PoC /generate job failed");
            record.status = JobStatus::Failed;
            record.error = Some(e);
        }
    }
    forget_expired(&mut state, inner.settings.result_ttl);
}

/// The callback path and JSON body of a completed job.
fn callback(id: &str, spec: &JobSpec, outcome: JobOutcome) -> Option<(&'static str, bytes::Bytes)> {
    let m = &spec.meta;
    let body = match (outcome, &spec.work) {
        (JobOutcome::Validated(v), Work::Validate { .. }) => {
            serde_json::to_vec(&ValidatedPayload {
                request_id: id.to_owned(),
                block_hash: m.block_hash.clone(),
                block_height: m.block_height,
                public_key: m.public_key.clone(),
                node_id: m.node_id,
                n_total: v.n_total,
                n_mismatch: v.n_mismatch,
                mismatch_nonces: v.mismatch_nonces,
                p_value: v.p_value,
                fraud_detected: v.fraud_detected,
            })
            .map(|b| ("validated", b))
        }
        (JobOutcome::Generated(g), Work::Generate) => serde_json::to_vec(&GeneratedPayload {
            public_key: m.public_key.clone(),
            block_hash: m.block_hash.clone(),
            block_height: m.block_height,
            node_id: m.node_id,
            artifacts: g.artifacts,
            encoding: g.encoding,
            request_id: Some(id.to_owned()),
        })
        .map(|b| ("generated", b)),
        _ => return None,
    };
    match body {
        Ok((path, body)) => Some((path, body.into())),
        Err(e) => {
            tracing::error!(request_id = %id, error = %e, "PoC callback body not encodable");
            None
        }
    }
}
