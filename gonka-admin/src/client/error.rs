//! [`ClientError`]: what an admin API call can fail with, built from status + body.

use gonka_core::{BatchError, FieldError, NodeConfig};
use reqwest::StatusCode;
use serde::Deserialize;

/// An admin API call failed. Each variant matches one documented answer of the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// 404: no such node (or endpoint).
    #[error("not found: {message}")]
    NotFound {
        /// The server's `error` message, e.g. `node not found: node9`.
        message: String,
    },
    /// 400 on a single node: validation failed, endpoint conflict or malformed request.
    #[error("invalid request: {message}")]
    Invalid {
        /// The server's `error` message.
        message: String,
        /// The individual problems (`fields`), empty when the server sent none.
        errors: Vec<FieldError>,
    },
    /// 206 on a batch: `nodes` were stored, `errors` were rejected.
    #[error("batch partly stored: {} stored, {} rejected", nodes.len(), errors.len())]
    PartialBatch {
        /// The stored nodes.
        nodes: Vec<NodeConfig>,
        /// The rejected nodes with index, id and reason.
        errors: Vec<BatchError>,
    },
    /// 400 on a batch: every node was rejected, nothing was stored.
    #[error("batch rejected: all {} nodes failed validation", errors.len())]
    BatchRejected {
        /// One entry per node.
        errors: Vec<BatchError>,
    },
    /// 401: missing or wrong bearer token.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// 409: the call conflicts with the resource's state (an illegal state-machine move, a name
    /// that is taken); the message names both sides.
    #[error("conflict: {message}")]
    Conflict {
        /// The server's message.
        message: String,
    },
    /// 413: the body is over the server's limit.
    #[error("payload too large: {message}")]
    PayloadTooLarge {
        /// The server's message.
        message: String,
    },
    /// 503: the server's storage is down; nothing was changed.
    #[error("service unavailable: {message}")]
    Unavailable {
        /// The server's message.
        message: String,
    },
    /// Any other non-success status.
    #[error("HTTP {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The raw body.
        body: String,
    },
    /// A success status with a body that is not what the call returns.
    #[error("unexpected response body (HTTP {status}): {reason}")]
    Decode {
        /// The status code.
        status: u16,
        /// Why decoding failed.
        reason: String,
        /// The raw body.
        body: String,
    },
    /// The CA certificate given to [`Client::with_ca_pem`](crate::Client::with_ca_pem) is not
    /// usable.
    #[error("invalid CA certificate: {0}")]
    InvalidCertificate(String),
    /// The request did not complete (connection refused, timeout, ...).
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    fields: Vec<FieldError>,
    #[serde(default)]
    errors: Option<Vec<BatchError>>,
}

impl ClientError {
    /// Builds the error for a non-success answer from its status and raw body.
    pub fn from_response(status: StatusCode, body: &str) -> Self {
        let parsed: Option<ErrorBody> = serde_json::from_str(body).ok();
        let message = parsed
            .as_ref()
            .and_then(|b| b.error.clone())
            .unwrap_or_else(|| body.trim().to_owned());
        match status.as_u16() {
            400 => match parsed {
                Some(ErrorBody {
                    errors: Some(errors),
                    ..
                }) => ClientError::BatchRejected { errors },
                Some(ErrorBody { fields, .. }) => ClientError::Invalid {
                    message,
                    errors: fields,
                },
                None => ClientError::Invalid {
                    message,
                    errors: Vec::new(),
                },
            },
            401 => ClientError::Unauthorized { message },
            404 => ClientError::NotFound { message },
            409 => ClientError::Conflict { message },
            413 => ClientError::PayloadTooLarge { message },
            503 => ClientError::Unavailable { message },
            code => ClientError::Http {
                status: code,
                body: body.to_owned(),
            },
        }
    }
}
