//! Delivers generated artifacts to the network node: every `callback_interval` the buffer is
//! drained into payloads of at most [`MAX_PAYLOAD_ARTIFACTS`] and POSTed to `{url}/generated`; a failed POST is retried (same
//! payload, so the receiver's per-nonce dedup keeps counts exact) with doubling pauses, and
//! dropped after `max_attempts`.

use gonka_core::trace_context::SendTraced;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::runner::Shared;
use super::wire::GeneratedPayload;
use super::PocSettings;

/// The most artifacts one callback carries (≈ 0.6 MB of JSON), so a backlog after an outage
/// never becomes one oversized body.
pub const MAX_PAYLOAD_ARTIFACTS: usize = 10_000;

/// Runs until generation has ended and the buffer is empty.
pub(crate) async fn run_sender(
    shared: Arc<Shared>,
    settings: PocSettings,
    client: reqwest::Client,
    url: String,
    template: GeneratedPayload,
) {
    let target = format!("{}/generated", url.trim_end_matches('/'));
    loop {
        let finished = shared.finished.load(Ordering::SeqCst);
        if !finished && shared.buffered() < MAX_PAYLOAD_ARTIFACTS {
            tokio::select! {
                () = tokio::time::sleep(settings.callback_interval) => {}
                () = shared.done.notified() => {}
            }
        }
        let artifacts = shared.take(MAX_PAYLOAD_ARTIFACTS);
        if artifacts.is_empty() {
            if shared.finished.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        let payload = GeneratedPayload {
            artifacts,
            ..template.clone()
        };
        deliver(&shared, &settings, &client, &target, &payload).await;
    }
}

async fn deliver(
    shared: &Shared,
    settings: &PocSettings,
    client: &reqwest::Client,
    target: &str,
    payload: &GeneratedPayload,
) {
    let n = payload.artifacts.len() as u64;
    let mut pause = settings.retry_initial;
    for attempt in 1..=settings.max_attempts.max(1) {
        match post(client, target, payload, settings.callback_timeout).await {
            Ok(()) => {
                shared.pending.fetch_sub(n, Ordering::SeqCst);
                shared.delivered.fetch_add(n, Ordering::SeqCst);
                tracing::debug!(artifacts = n, %target, "PoC artifacts delivered");
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, artifacts = n, %target, error = %e, "PoC callback failed");
                shared.set_error(format!("callback to {target} failed: {e}"));
                if attempt < settings.max_attempts {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(settings.retry_max.max(Duration::from_millis(1)));
                }
            }
        }
    }
    tracing::error!(artifacts = n, %target, "PoC callback given up after every retry; artifacts dropped");
    shared.pending.fetch_sub(n, Ordering::SeqCst);
    shared.dropped.fetch_add(n, Ordering::SeqCst);
}

/// Why one callback POST failed.
#[derive(Debug, thiserror::Error)]
enum CallbackError {
    /// The request did not complete.
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    /// The network node answered 4xx or 5xx.
    #[error("{status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
}

async fn post(
    client: &reqwest::Client,
    target: &str,
    payload: &GeneratedPayload,
    timeout: Duration,
) -> Result<(), CallbackError> {
    let resp = client
        .post(target)
        .timeout(timeout)
        .json(payload)
        .send_traced()
        .await?;
    let status = resp.status();
    if status.as_u16() < 400 {
        Ok(())
    } else {
        let body = resp.text().await.unwrap_or_default();
        Err(CallbackError::Status { status, body })
    }
}
