//! [`CallbackQueue`]: delivers the results of queued `/generate` jobs to `{url}/validated` and
//! `{url}/generated` as upstream's engine does: at most [`MAX_CONCURRENT`] POSTs at a time,
//! each retried with doubling pauses (`retry_initial` up to `retry_max`) for `max_attempts`,
//! any status below 400 counting as delivered; at most [`MAX_PENDING`] callbacks wait, the
//! oldest is dropped beyond. [`CallbackQueue::clear`] (on `/pow/stop`) abandons every pending
//! and retrying callback.

use gonka_core::trace_context::SendTraced;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use super::PocSettings;

/// Callbacks POSTed at the same time (upstream `POC_CALLBACK_MAX_CONCURRENT`).
pub(crate) const MAX_CONCURRENT: usize = 10;
/// Callbacks waiting at most (upstream `POC_CALLBACK_QUEUE_SIZE`).
pub(crate) const MAX_PENDING: usize = 10_000;

#[derive(Debug)]
struct Callback {
    target: String,
    body: Bytes,
    epoch: u64,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<Callback>,
    active: usize,
    epoch: u64,
}

#[derive(Debug)]
struct Inner {
    settings: PocSettings,
    client: reqwest::Client,
    state: Mutex<State>,
}

/// The callback sender of a [`super::queue::GenerateQueue`].
#[derive(Debug, Clone)]
pub(crate) struct CallbackQueue {
    inner: Arc<Inner>,
}

impl CallbackQueue {
    /// A queue delivering with `settings`' timeout and retries.
    pub(crate) fn new(settings: PocSettings, client: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                client,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Queues `body` (JSON) for `{url}/{path}`. Must be called inside a tokio runtime.
    pub(crate) fn enqueue(&self, url: &str, path: &str, body: Bytes) {
        let target = format!("{}/{path}", url.trim_end_matches('/'));
        {
            let mut state = self.inner.lock();
            if state.pending.len() >= MAX_PENDING {
                if let Some(old) = state.pending.pop_front() {
                    tracing::warn!(target = %old.target, "PoC callback queue full; the oldest callback is dropped");
                }
            }
            let epoch = state.epoch;
            state.pending.push_back(Callback {
                target,
                body,
                epoch,
            });
        }
        self.inner.pump();
    }

    /// Abandons every pending callback; those being retried stop before their next attempt.
    pub(crate) fn clear(&self) {
        let mut state = self.inner.lock();
        state.epoch += 1;
        state.pending.clear();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts senders for waiting callbacks while fewer than [`MAX_CONCURRENT`] run.
    fn pump(self: &Arc<Self>) {
        let mut state = self.lock();
        while state.active < MAX_CONCURRENT {
            let Some(callback) = state.pending.pop_front() else {
                break;
            };
            state.active += 1;
            let inner = Arc::clone(self);
            tokio::spawn(async move {
                inner.deliver(callback).await;
                inner.lock().active -= 1;
                inner.pump();
            });
        }
    }

    fn current(&self, callback: &Callback) -> bool {
        self.lock().epoch == callback.epoch
    }

    async fn deliver(&self, callback: Callback) {
        let s = &self.settings;
        let mut pause = s.retry_initial;
        let attempts = s.max_attempts.max(1);
        for attempt in 1..=attempts {
            if !self.current(&callback) {
                tracing::info!(target = %callback.target, "PoC callback abandoned (pow/stop)");
                return;
            }
            match self.post(&callback).await {
                Ok(()) => {
                    tracing::debug!(target = %callback.target, attempt, "PoC callback delivered");
                    return;
                }
                Err(e) => {
                    tracing::warn!(target = %callback.target, attempt, attempts, error = %e, "PoC callback failed");
                }
            }
            if attempt < attempts {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(s.retry_max.max(Duration::from_millis(1)));
            }
        }
        tracing::error!(target = %callback.target, attempts, "PoC callback given up after every retry");
    }

    async fn post(&self, callback: &Callback) -> Result<(), String> {
        let resp = self
            .client
            .post(&callback.target)
            .timeout(self.settings.callback_timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(callback.body.clone())
            .send_traced()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        if status.as_u16() < 400 {
            Ok(())
        } else {
            let body = resp.text().await.unwrap_or_default();
            Err(format!("{status}: {body}"))
        }
    }
}
