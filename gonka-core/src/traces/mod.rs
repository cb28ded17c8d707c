//! The [`TraceStore`] trait: where request traces (one per routing decision) are kept, queried
//! and summarised, with bounded retention.
//!
//! A [`Trace`] records why and where a request went and how it ended: the model, the chosen
//! node, the scheduler's score and per-signal breakdown, the candidates considered, queue
//! wait, time to first token, latency, token counts, status, retries, the API key's
//! non-secret id and the client's app tag. Never a prompt, an answer or a secret.

mod memory;
mod trends;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

pub use memory::{MemoryTraceStore, DEFAULT_MEMORY_TRACE_ROWS};
pub use trends::{trend_buckets, TrendBucket, TrendSample};

/// Which API a traced request came in on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceApi {
    /// The OpenAI API (`/v1/...`).
    #[default]
    Openai,
    /// The Ollama native API (`/api/...`).
    Ollama,
}

impl TraceApi {
    /// `"openai"` or `"ollama"`, as stored and serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceApi::Openai => "openai",
            TraceApi::Ollama => "ollama",
        }
    }

    /// The API named `s` (as [`as_str`](Self::as_str) writes it).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "openai" => Some(TraceApi::Openai),
            "ollama" => Some(TraceApi::Ollama),
            _ => None,
        }
    }
}

/// How a traced request ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceStatus {
    /// The answer was delivered whole with a success status.
    #[default]
    Completed,
    /// A node answered with an error, broke the answer off, or every try failed.
    Failed,
    /// The gateway refused it before any node took it (unknown model, no capacity, queue
    /// full, shutting down).
    Rejected,
    /// The client went away before the answer ended.
    Cancelled,
}

impl TraceStatus {
    /// Every status, in declaration order.
    pub const ALL: [TraceStatus; 4] = [
        TraceStatus::Completed,
        TraceStatus::Failed,
        TraceStatus::Rejected,
        TraceStatus::Cancelled,
    ];

    /// `"completed"`, `"failed"`, `"rejected"` or `"cancelled"`, as stored and serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceStatus::Completed => "completed",
            TraceStatus::Failed => "failed",
            TraceStatus::Rejected => "rejected",
            TraceStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `s` (as [`as_str`](Self::as_str) writes it).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the status counts as an error in usage and health figures (failed or rejected;
    /// a cancelled request is the client's choice).
    pub fn is_error(self) -> bool {
        matches!(self, TraceStatus::Failed | TraceStatus::Rejected)
    }
}

/// One routing decision and its outcome. Times are in milliseconds; unknown values are `None`
/// (serialized as `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The request's id (`x-request-id`).
    pub request_id: String,
    /// When the request arrived, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The API it came in on.
    pub api: TraceApi,
    /// The endpoint the client called, e.g. `/v1/chat/completions` or `/api/chat`.
    pub endpoint: String,
    /// The model that served it (a fallback model when one did), else the one requested.
    pub model: String,
    /// The node chosen last; `None` when no node took the request.
    pub node_id: Option<String>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// The policy's total score of the chosen node; `None` for policies that do not score.
    pub score: Option<f64>,
    /// Each signal's contribution to `score`, by signal name.
    pub scores_breakdown: Option<BTreeMap<String, f64>>,
    /// Nodes that could take the request when the node was chosen (eligible ones).
    pub candidates: u32,
    /// Time waiting for a node slot (holding queue), from arrival.
    pub queue_wait_ms: Option<f64>,
    /// Time from arrival to the first byte of the node's answer.
    pub ttft_ms: Option<f64>,
    /// Time from taking the node's slot to the end of the answer.
    pub latency_ms: Option<f64>,
    /// Prompt tokens the engine reported in `usage`.
    pub prompt_tokens: Option<u64>,
    /// Completion tokens the engine reported in `usage`.
    pub completion_tokens: Option<u64>,
    /// How it ended.
    pub status: TraceStatus,
    /// The HTTP status the client got (499 when it went away).
    pub http_status: u16,
    /// Tries after the first one.
    pub retries: u32,
    /// Non-secret id of the API key used (a short digest prefix), never the key itself.
    pub api_key: Option<String>,
    /// The client's `X-App-Tag` header.
    pub app_tag: Option<String>,
}

/// Which traces [`TraceStore::query`] returns: newest first, at most `limit`, matching every
/// filter that is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceQuery {
    /// Most traces returned (0 returns none).
    pub limit: usize,
    /// Only traces of this model.
    pub model: Option<String>,
    /// Only traces routed to this node.
    pub node_id: Option<String>,
    /// Only traces with this status.
    pub status: Option<TraceStatus>,
    /// Only traces with `timestamp_ms >= since_ms`.
    pub since_ms: Option<i64>,
}

/// Completed requests of one node and model since some time ([`TraceStore::performance`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerformanceRow {
    /// The node.
    pub node_id: String,
    /// The model.
    pub model: String,
    /// Completed requests.
    pub count: u64,
    /// Failed requests on this node and model (not in `count`).
    pub errors: u64,
    /// Mean `latency_ms` of the completed requests; `None` when none has one.
    pub mean_latency_ms: Option<f64>,
    /// Mean of `completion_tokens * 1000 / latency_ms` over completed requests with both
    /// (latency above 0); `None` when none has both.
    pub tokens_per_second: Option<f64>,
}

/// Requests of one API key and app tag since some time ([`TraceStore::usage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    /// The key's non-secret id (`None`: no key).
    pub api_key: Option<String>,
    /// The app tag (`None`: none sent).
    pub app_tag: Option<String>,
    /// Requests, whatever their status.
    pub requests: u64,
    /// Sum of reported prompt tokens.
    pub prompt_tokens: u64,
    /// Sum of reported completion tokens.
    pub completion_tokens: u64,
    /// Requests that failed or were rejected ([`TraceStatus::is_error`]).
    pub errors: u64,
}

/// How long traces are kept; [`TraceStore::prune`] applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Traces older than this many milliseconds (by `timestamp_ms`) are removed.
    pub max_age_ms: i64,
    /// At most this many traces are kept: the most recently appended ones.
    pub max_rows: u64,
}

impl Default for Retention {
    /// 7 days and 1,000,000 rows.
    fn default() -> Self {
        Self {
            max_age_ms: 7 * 24 * 3600 * 1000,
            max_rows: 1_000_000,
        }
    }
}

/// Most rows [`TraceStore::trend_samples`] is asked for by the gateway's trends API.
pub const MAX_TREND_SAMPLES: usize = 200_000;

/// Where request traces live.
///
/// Contract (checked by `gonka_core::testing::trace_store_suite`, which every implementation
/// runs):
/// - **Append**: [`append`](Self::append) stores a batch in one durable write and returns only
///   after it is durable for that backend; on `Err` nothing of the batch was stored. Every
///   field reads back as written (floats to within 1e-6 relative).
/// - **Order**: [`query`](Self::query) returns newest first (`timestamp_ms` descending, then
///   most recently appended first).
/// - **Aggregates**: [`performance`](Self::performance) and [`usage`](Self::usage) agree with
///   their row types' definitions over the traces with `timestamp_ms >= since_ms`;
///   performance rows come sorted by node id then model, usage rows by requests descending,
///   then key, then tag (`None` first).
/// - **Retention**: [`prune`](Self::prune) removes every trace older than `now_ms -
///   max_age_ms`, then the oldest appended ones beyond `max_rows`, and returns how many it
///   removed.
/// - **Concurrency**: methods may be called concurrently; each is atomic.
#[async_trait]
pub trait TraceStore: Send + Sync + std::fmt::Debug + 'static {
    /// Stores `traces` in one write.
    ///
    /// # Errors
    /// `Unavailable` when the storage is down; nothing was stored.
    async fn append(&self, traces: Vec<Trace>) -> Result<()>;

    /// The traces matching `query`, newest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn query(&self, query: &TraceQuery) -> Result<Vec<Trace>>;

    /// Completed and failed requests per node and model since `since_ms` (traces with a node).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn performance(&self, since_ms: i64) -> Result<Vec<PerformanceRow>>;

    /// Requests per API key and app tag since `since_ms`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn usage(&self, since_ms: i64) -> Result<Vec<UsageRow>>;

    /// The light columns of the newest traces since `since_ms` (at most `max_rows`, newest
    /// first), for [`trend_buckets`].
    ///
    /// # Errors
    /// `Unavailable`.
    async fn trend_samples(&self, since_ms: i64, max_rows: usize) -> Result<Vec<TrendSample>>;

    /// Applies `retention` as of `now_ms`; returns the number of traces removed.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune(&self, retention: Retention, now_ms: i64) -> Result<u64>;

    /// How many traces are stored.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count(&self) -> Result<u64>;
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Encodes a breakdown for a text column (a JSON object), `None` for none.
pub fn encode_breakdown(breakdown: Option<&BTreeMap<String, f64>>) -> Option<String> {
    breakdown.and_then(|b| serde_json::to_string(b).ok())
}

/// Decodes a breakdown column written by [`encode_breakdown`].
///
/// # Errors
/// `Unavailable` naming the problem when the text is not a JSON object of numbers.
pub fn decode_breakdown(text: Option<&str>) -> Result<Option<BTreeMap<String, f64>>> {
    text.map(|t| {
        serde_json::from_str(t).map_err(|e| {
            crate::Error::Unavailable(format!("corrupt scores_breakdown column: {e}").into())
        })
    })
    .transpose()
}
