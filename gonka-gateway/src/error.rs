//! The gateway's two error types:
//!
//! - [`GatewayError`]: why one client request is answered with an error, mapped to HTTP here
//!   and nowhere else, in the OpenAI error shape `{"error": {"message", "type", "code",
//!   "param"}}` ([`GatewayError::parts`], `IntoResponse`);
//! - [`StartupError`]: why a gateway (or a devnet) could not start, with its cause as `source`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why one client request is answered with an error. Each variant has one HTTP status, OpenAI
/// `type` and `code` ([`parts`](Self::parts)); the message is the `Display` text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The request body is not what the endpoint accepts.
    #[error("{0}")]
    BadRequest(String),
    /// The request body is over the configured limit (`413`).
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No such endpoint (`404`).
    #[error(
        "unknown endpoint; the gateway serves /v1/chat/completions, /v1/completions, /v1/models"
    )]
    UnknownEndpoint,
    /// The path exists but not for this method (405, with `Allow`).
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// No or a wrong API key.
    #[error("{0}")]
    Unauthorized(String),
    /// The request's API key is a deployment endpoint's key, which may only ask for its own
    /// deployment's models (`403`).
    #[error("this API key is scoped to deployment `{deployment}` and cannot be used for model `{model}`; use it for `{deployment}` or use another key")]
    KeyScope {
        /// The model asked for.
        model: String,
        /// The deployment (task group) the key belongs to.
        deployment: String,
    },
    /// No registered node declares the model (nor any fallback).
    #[error("the model `{0}` does not exist or no node serves it")]
    ModelNotFound(String),
    /// No node became free within the queue timeout.
    #[error("no ML node available for model `{model}` within {waited_ms} ms")]
    NoCapacity {
        /// Requested model.
        model: String,
        /// How long the request waited.
        waited_ms: u128,
    },
    /// The holding queue is full.
    #[error("too many requests waiting for model `{0}`; retry later")]
    QueueFull(String),
    /// The chosen node could not be connected to.
    #[error("upstream ML node failed: node {node}: {reason}")]
    UpstreamConnect {
        /// The node's id.
        node: String,
        /// What the connection attempt reported.
        reason: String,
    },
    /// Sending the request to the node failed after connecting.
    #[error("upstream ML node failed: node {node}: {reason}")]
    UpstreamFailed {
        /// The node's id.
        node: String,
        /// What failed.
        reason: String,
    },
    /// The node's response was cut before its first body byte.
    #[error("upstream ML node failed: node {node} failed before the first byte: {reason}")]
    UpstreamCut {
        /// The node's id.
        node: String,
        /// Why the body ended.
        reason: String,
    },
    /// The node broke off an answer it had started (its connection died or it went silent for
    /// the idle timeout): `stage` is `mid-stream` (an SSE or NDJSON stream, ended with an
    /// error event) or `mid-response` (a whole answer, not yet sent to the client). Not
    /// retried: the node had started the work.
    #[error("upstream ML node failed: node {node} failed {stage}: {reason}")]
    UpstreamBroke {
        /// The node's id.
        node: String,
        /// `mid-stream` or `mid-response`.
        stage: &'static str,
        /// Why the answer ended.
        reason: String,
    },
    /// The node sent no response head (`stage` = `response`) or no first body byte
    /// (`stage` = `body`) within the request timeout.
    #[error("upstream ML node timed out: node {node} sent no {stage} within {} s", waited.as_secs())]
    UpstreamTimeout {
        /// The node's id.
        node: String,
        /// `response` or `body`.
        stage: &'static str,
        /// The request timeout.
        waited: Duration,
    },
    /// The gateway is shutting down.
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// No node has the model; auto-pull (`--auto-pull`) is downloading it onto `node` (`503`
    /// with `Retry-After`).
    #[error("no node has the model `{model}` yet: it is being pulled onto node {node}; retry in {retry_after_s} s")]
    ModelPulling {
        /// Requested model.
        model: String,
        /// The node it is being pulled onto.
        node: String,
        /// Seconds to wait before retrying (`Retry-After`).
        retry_after_s: u32,
    },
}

impl GatewayError {
    /// HTTP status, OpenAI `type` and `code` of this error.
    pub fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        const INVALID: &str = "invalid_request_error";
        const SERVER: &str = "server_error";
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, INVALID, "invalid_request"),
            Self::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, INVALID, "request_too_large")
            }
            Self::UnknownEndpoint => (StatusCode::NOT_FOUND, INVALID, "not_found"),
            Self::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                INVALID,
                "method_not_allowed",
            ),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, INVALID, "invalid_api_key"),
            Self::KeyScope { .. } => (StatusCode::FORBIDDEN, "permission_error", "key_scope"),
            Self::ModelNotFound(_) => (StatusCode::NOT_FOUND, INVALID, "model_not_found"),
            Self::NoCapacity { .. } => (StatusCode::SERVICE_UNAVAILABLE, SERVER, "no_capacity"),
            Self::QueueFull(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "queue_full",
            ),
            Self::UpstreamConnect { .. }
            | Self::UpstreamFailed { .. }
            | Self::UpstreamCut { .. }
            | Self::UpstreamBroke { .. } => (StatusCode::BAD_GATEWAY, SERVER, "upstream_error"),
            Self::UpstreamTimeout { .. } => {
                (StatusCode::GATEWAY_TIMEOUT, SERVER, "upstream_timeout")
            }
            Self::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, SERVER, "shutting_down"),
            Self::ModelPulling { .. } => (StatusCode::SERVICE_UNAVAILABLE, SERVER, "model_pulling"),
        }
    }

    /// The upstream did not answer in time (such a request may still run on its node, so it
    /// is not retried elsewhere).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::UpstreamTimeout { .. })
    }

    /// The node had started the answer (it may have done the work), so the request is not
    /// tried again on another node.
    pub fn answer_started(&self) -> bool {
        matches!(self, Self::UpstreamBroke { .. })
    }

    /// The OpenAI-shaped error body of this error (`{"error": {...}}`), as sent in a response
    /// or in a stream's error event.
    pub fn body(&self) -> serde_json::Value {
        let (_, kind, code) = self.parts();
        gonka_core::server::openai_error_body(kind, code, &self.to_string())
    }

    /// The OpenAI-shaped error response of this error.
    fn response(&self) -> Response {
        let (status, kind, code) = self.parts();
        let mut response = openai_error(status, kind, code, &self.to_string());
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }

    /// Seconds a client should wait before retrying, sent as `Retry-After` on every 429 and
    /// 503: a full queue drains within about a second; a model with no free node, or a gateway
    /// draining for a restart, needs a few.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::QueueFull(_) => Some(1),
            Self::NoCapacity { .. } => Some(2),
            Self::ShuttingDown => Some(5),
            Self::ModelPulling { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }
}

pub use gonka_core::server::openai_error;

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        self.response()
    }
}

impl IntoResponse for &GatewayError {
    fn into_response(self) -> Response {
        self.response()
    }
}

/// Why a gateway or a devnet could not start. The cause, when there is one, is the `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A listener could not be bound.
    #[error("cannot bind the {what} listener on {addr}")]
    Bind {
        /// Which listener (`public`, `admin`, `metrics`, ...).
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A listener has no local address.
    #[error("listener has no address")]
    ListenerAddress(#[source] std::io::Error),
    /// The node registry could not be opened.
    #[error("cannot open the registry")]
    Registry(#[source] gonka_core::Error),
    /// The configuration is not usable; the message says why.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A devnet step failed (`what` names it and says why when there is no `source`).
    #[error("devnet: {what}")]
    Devnet {
        /// The step.
        what: String,
        /// Its cause, when another error caused it.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StartupError {
    /// A devnet step `what` that failed because of `source`.
    pub fn devnet(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Devnet {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A devnet step that failed for the reason `what` says.
    pub fn devnet_failed(what: impl Into<String>) -> Self {
        Self::Devnet {
            what: what.into(),
            source: None,
        }
    }
}

/// `error: cause: cause ...`: an error and its whole `source` chain on one line (for logs and
/// the binary's exit message).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests;
