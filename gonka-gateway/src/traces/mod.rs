//! Request traces: one per routing decision, written off the request path (docs/traces.md).
//!
//! The proxy builds a [`PendingTrace`] when a request arrives, fills it as the request is
//! routed (node, score breakdown, candidates, queue wait, retries) and answered (TTFT,
//! latency, tokens, status), and hands it to the [`TraceRecorder`]: a bounded channel read by
//! [`run_writer`], which appends batches to the [`TraceStore`] and applies the retention
//! periodically. A full channel drops the trace and counts it
//! (`gonka_gateway_traces_dropped_total`); the request never waits for the store.
//!
//! The JSON APIs on the admin listener are in [`api`] and [`health`].

pub mod api;
pub mod health;
mod pending;

use std::sync::Arc;
use std::time::Duration;

use gonka_core::traces::{now_ms, Retention, Trace, TraceApi, TraceStore};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

pub use pending::PendingTrace;

/// Header a client sets to tag its requests for usage figures (`X-App-Tag: my-app`); visible
/// ASCII, at most [`APP_TAG_MAX_LEN`] bytes kept.
pub const HEADER_APP_TAG: &str = "x-app-tag";
/// Longest app tag kept (longer ones are cut).
pub const APP_TAG_MAX_LEN: usize = 64;

/// How traces are written and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceSettings {
    /// Traces waiting for the writer before new ones are dropped (default 8192).
    pub channel_capacity: usize,
    /// Most traces appended in one write (default 512).
    pub batch_size: usize,
    /// How often the retention is applied (default 60 s; also once at start).
    pub prune_interval: Duration,
    /// How often the writer takes what the channel holds (default 50 ms): a trace is stored at
    /// most about this long after its request ended. The writer sleeps between looks instead of
    /// waiting on the channel, so a request's trace never wakes it (a task wake-up, often a
    /// parked thread's, per request was most of what traces cost on the request path). The
    /// channel holds `channel_capacity` traces between looks: 8192 per 50 ms is ~160k per second.
    pub flush_interval: Duration,
    /// Age and row limits (default 7 days, 1,000,000 rows).
    pub retention: Retention,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            channel_capacity: 8192,
            batch_size: 512,
            prune_interval: Duration::from_secs(60),
            flush_interval: Duration::from_millis(50),
            retention: Retention::default(),
        }
    }
}

/// The proxy's end of the trace channel. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TraceRecorder {
    tx: mpsc::Sender<Trace>,
    metrics: Arc<Metrics>,
    /// Whether API keys are configured: then the key's digest prefix is recorded.
    key_ids: bool,
}

impl TraceRecorder {
    /// A recorder sending into `tx`, counting drops in `metrics`; `key_ids` when the gateway
    /// checks API keys (only then is a presented key's id recorded).
    pub fn new(tx: mpsc::Sender<Trace>, metrics: Arc<Metrics>, key_ids: bool) -> Self {
        Self {
            tx,
            metrics,
            key_ids,
        }
    }

    /// A trace for a request that just arrived on `endpoint` of `api`.
    pub fn begin(
        &self,
        api: TraceApi,
        endpoint: &str,
        headers: &axum::http::HeaderMap,
        model: &str,
        stream: bool,
    ) -> PendingTrace {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let trace = Trace {
            request_id: header("x-request-id").unwrap_or_default().to_owned(),
            timestamp_ms: now_ms(),
            api,
            endpoint: endpoint.to_owned(),
            model: model.to_owned(),
            stream,
            http_status: 200,
            api_key: if self.key_ids { key_id(headers) } else { None },
            app_tag: header(HEADER_APP_TAG).and_then(app_tag),
            ..Trace::default()
        };
        PendingTrace::new(trace, self.clone())
    }

    /// Hands `trace` to the writer, or drops and counts it when the channel is full. Never
    /// waits.
    pub fn record(&self, trace: Trace) {
        match self.tx.try_send(trace) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.traces_dropped.inc();
            }
            // The writer is gone (shutdown): nothing to count.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// The non-secret id of the bearer key in `headers`: `sha256:` and the first 8 hex digits of
/// its digest (the form an API keys file may hold, cut short), never the key.
fn key_id(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let key = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?
        .trim();
    if key.is_empty() {
        return None;
    }
    Some(crate::auth::key_id(key))
}

/// The app tag of a header value: trimmed, empty as none, cut to [`APP_TAG_MAX_LEN`] bytes.
fn app_tag(value: &str) -> Option<String> {
    let tag = value.trim();
    if tag.is_empty() {
        return None;
    }
    // Visible ASCII (a `to_str` header value): any byte index is a char boundary.
    Some(tag.get(..APP_TAG_MAX_LEN.min(tag.len()))?.to_owned())
}

/// A trace channel of `settings.channel_capacity`: the recorder for the proxy and the receiver
/// for [`run_writer`].
pub fn channel(
    settings: &TraceSettings,
    metrics: Arc<Metrics>,
    key_ids: bool,
) -> (TraceRecorder, mpsc::Receiver<Trace>) {
    let (tx, rx) = mpsc::channel(settings.channel_capacity.max(1));
    (TraceRecorder::new(tx, metrics, key_ids), rx)
}

/// Writes the traces of `rx` to `store` in batches of up to `settings.batch_size`, looking every
/// `settings.flush_interval`, and applies the retention every `settings.prune_interval` (and at
/// start). Returns once every [`TraceRecorder`] is dropped and the channel is drained. A failed
/// write or prune is logged and the traces of that batch are lost; the loop goes on.
pub async fn run_writer(
    store: Arc<dyn TraceStore>,
    mut rx: mpsc::Receiver<Trace>,
    settings: TraceSettings,
) {
    let mut prune = tokio::time::interval(settings.prune_interval.max(Duration::from_millis(1)));
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flush = tokio::time::interval(settings.flush_interval.max(Duration::from_millis(1)));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let batch_size = settings.batch_size.max(1);
    loop {
        tokio::select! {
            _ = flush.tick() => {
                if drain(store.as_ref(), &mut rx, batch_size).await {
                    return;
                }
            }
            _ = prune.tick() => {
                match store.prune(settings.retention, now_ms()).await {
                    Ok(0) => {}
                    Ok(removed) => tracing::debug!(removed, "request traces pruned"),
                    Err(e) => tracing::warn!(error = %e, "request traces not pruned"),
                }
            }
        }
    }
}

/// Appends everything `rx` holds now to `store`, `batch_size` at a time, without waiting for
/// more (`try_recv` registers no waker, so senders wake nothing). Returns whether the channel is
/// closed (every recorder dropped) and empty.
async fn drain(store: &dyn TraceStore, rx: &mut mpsc::Receiver<Trace>, batch_size: usize) -> bool {
    loop {
        let mut batch = Vec::new();
        let mut closed = false;
        while batch.len() < batch_size {
            match rx.try_recv() {
                Ok(trace) => batch.push(trace),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let full = batch.len() == batch_size;
        if !batch.is_empty() {
            let n = batch.len();
            if let Err(e) = store.append(batch).await {
                tracing::warn!(error = %e, traces = n, "request traces not stored");
            }
        }
        if closed {
            return true;
        }
        if !full {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    #[test]
    fn key_ids_are_digest_prefixes_never_the_key() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer sk-very-secret".parse().unwrap());
        let id = key_id(&h).unwrap();
        assert!(id.starts_with("sha256:") && id.len() == 15, "{id}");
        assert!(crate::auth::hashed_entry("sk-very-secret").starts_with(&id));
        assert!(!id.contains("secret"));
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(key_id(&h), None);
        assert_eq!(key_id(&HeaderMap::new()), None);
    }

    #[test]
    fn app_tags_are_trimmed_and_bounded() {
        assert_eq!(app_tag("  notebook "), Some("notebook".into()));
        assert_eq!(app_tag("   "), None);
        assert_eq!(app_tag(&"x".repeat(100)).unwrap().len(), APP_TAG_MAX_LEN);
    }

    #[tokio::test]
    async fn a_full_channel_drops_and_counts_without_waiting() {
        let metrics = Arc::new(Metrics::new());
        let settings = TraceSettings {
            channel_capacity: 2,
            ..TraceSettings::default()
        };
        let (recorder, mut rx) = channel(&settings, metrics.clone(), false);
        for i in 0..5 {
            recorder.record(Trace {
                request_id: format!("r{i}"),
                ..Trace::default()
            });
        }
        assert_eq!(metrics.traces_dropped.get(), 3);
        assert_eq!(rx.recv().await.unwrap().request_id, "r0");
        assert_eq!(rx.recv().await.unwrap().request_id, "r1");
    }

    #[tokio::test]
    async fn the_writer_stores_everything_sent_and_stops_when_the_recorders_are_gone() {
        let store: Arc<dyn TraceStore> = Arc::new(gonka_core::MemoryTraceStore::new());
        let settings = TraceSettings {
            batch_size: 3,
            ..TraceSettings::default()
        };
        let (recorder, rx) = channel(&settings, Arc::new(Metrics::new()), false);
        for i in 0..10 {
            recorder.record(Trace {
                request_id: format!("r{i}"),
                timestamp_ms: now_ms(),
                ..Trace::default()
            });
        }
        drop(recorder);
        run_writer(store.clone(), rx, settings).await;
        assert_eq!(store.count().await.unwrap(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn the_writer_takes_traces_on_its_interval_not_on_each_send() {
        let store: Arc<dyn TraceStore> = Arc::new(gonka_core::MemoryTraceStore::new());
        let settings = TraceSettings {
            batch_size: 2,
            flush_interval: Duration::from_millis(100),
            ..TraceSettings::default()
        };
        let (recorder, rx) = channel(&settings, Arc::new(Metrics::new()), false);
        let writer = tokio::spawn(run_writer(store.clone(), rx, settings));
        // The first look (at start) finds nothing.
        tokio::time::sleep(Duration::from_millis(10)).await;
        for i in 0..5 {
            recorder.record(Trace {
                request_id: format!("r{i}"),
                timestamp_ms: now_ms(),
                ..Trace::default()
            });
            tokio::task::yield_now().await;
        }
        // Sent, but the writer was not woken for them.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.count().await.unwrap(), 0);
        // Its next look stores all five (three batches of at most two).
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(store.count().await.unwrap(), 5);
        drop(recorder);
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn the_writer_applies_the_retention() {
        let store: Arc<dyn TraceStore> = Arc::new(gonka_core::MemoryTraceStore::new());
        store
            .append(vec![
                Trace {
                    timestamp_ms: 1,
                    ..Trace::default()
                };
                5
            ])
            .await
            .unwrap();
        let settings = TraceSettings {
            retention: Retention {
                max_age_ms: 60_000,
                max_rows: 100,
            },
            ..TraceSettings::default()
        };
        let (recorder, rx) = channel(&settings, Arc::new(Metrics::new()), false);
        let writer = tokio::spawn(run_writer(store.clone(), rx, settings));
        // The first prune runs at start; wait for it on the store's state (bounded).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.count().await.unwrap() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "old traces not pruned"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(recorder);
        writer.await.unwrap();
    }
}
