//! [`MlNodeError`]: what a management API call can fail with.

use gonka_core::mlnode_api::ErrorReply;
use reqwest::StatusCode;

/// The most bytes of a node's answer kept in an error (messages end up in logs and in the
/// registry's `failure_reason`).
const MAX_KEPT: usize = 1024;

/// A call to an ML node's management API failed. Every variant names the method and URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlNodeError {
    /// The node could not be connected to (refused, unreachable, connect timeout).
    #[error("{method} {url}: connection failed")]
    Connect {
        /// HTTP method.
        method: &'static str,
        /// The URL called.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// No complete answer within the call's timeout.
    #[error("{method} {url}: timed out")]
    Timeout {
        /// HTTP method.
        method: &'static str,
        /// The URL called.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// Any other failure to send the request or read the answer (connection cut, bad URL, ...).
    #[error("{method} {url}: {source}")]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// The URL called.
        url: String,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered a non-success status.
    #[error("{method} {url} answered {status}: {message}")]
    Status {
        /// HTTP method.
        method: &'static str,
        /// The URL called.
        url: String,
        /// The status.
        status: StatusCode,
        /// The node's message (`error`, else `detail`, else the raw body, at most 1 KiB).
        message: String,
    },
    /// A success status with a body that is not what the call returns.
    #[error("{method} {url}: unexpected answer body (HTTP {status}): {source}")]
    Decode {
        /// HTTP method.
        method: &'static str,
        /// The URL called.
        url: String,
        /// The status.
        status: StatusCode,
        /// The raw body (at most 1 KiB).
        body: String,
        /// Why decoding failed.
        #[source]
        source: serde_json::Error,
    },
}

impl MlNodeError {
    /// Classifies a failure of the HTTP client.
    pub(crate) fn transport(method: &'static str, url: String, source: reqwest::Error) -> Self {
        if source.is_timeout() {
            Self::Timeout {
                method,
                url,
                source,
            }
        } else if source.is_connect() {
            Self::Connect {
                method,
                url,
                source,
            }
        } else {
            Self::Transport {
                method,
                url,
                source,
            }
        }
    }

    /// The error of a non-success answer `status` with raw `body`.
    pub(crate) fn status(
        method: &'static str,
        url: String,
        status: StatusCode,
        body: &str,
    ) -> Self {
        let message = serde_json::from_str::<ErrorReply>(body)
            .ok()
            .and_then(|r| r.message().map(str::to_owned))
            .unwrap_or_else(|| body.trim().to_owned());
        Self::Status {
            method,
            url,
            status,
            message: truncate(message),
        }
    }

    /// The error of a success answer whose `body` did not decode.
    pub(crate) fn decode(
        method: &'static str,
        url: String,
        status: StatusCode,
        body: &str,
        source: serde_json::Error,
    ) -> Self {
        Self::Decode {
            method,
            url,
            status,
            body: truncate(body.to_owned()),
            source,
        }
    }

    /// The HTTP status the node answered, when it answered one.
    pub fn http_status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// `409 Conflict`: the node is busy with another model or with PoC.
    pub fn is_conflict(&self) -> bool {
        self.http_status() == Some(StatusCode::CONFLICT)
    }

    /// `404 Not Found`: the node holds no such task instance (or has no such route).
    pub fn is_not_found(&self) -> bool {
        self.http_status() == Some(StatusCode::NOT_FOUND)
    }

    /// The call ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// The URL called.
    pub fn url(&self) -> &str {
        match self {
            Self::Connect { url, .. }
            | Self::Timeout { url, .. }
            | Self::Transport { url, .. }
            | Self::Status { url, .. }
            | Self::Decode { url, .. } => url,
        }
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_KEPT {
        let mut end = MAX_KEPT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_error_takes_the_nodes_message() {
        let url = || "http://n/api/v1/stop".to_owned();
        let ours = MlNodeError::status(
            "POST",
            url(),
            StatusCode::CONFLICT,
            r#"{"detail":"d","error":"e"}"#,
        );
        assert_eq!(
            ours.to_string(),
            "POST http://n/api/v1/stop answered 409 Conflict: e"
        );
        assert!(ours.is_conflict());
        let upstream =
            MlNodeError::status("POST", url(), StatusCode::BAD_REQUEST, r#"{"detail":"d"}"#);
        assert!(upstream.to_string().ends_with(": d"));
        assert!(!upstream.is_conflict());
        let plain = MlNodeError::status("POST", url(), StatusCode::BAD_GATEWAY, " oops \n");
        assert!(plain.to_string().ends_with(": oops"));
        assert_eq!(plain.http_status(), Some(StatusCode::BAD_GATEWAY));
        assert_eq!(plain.url(), "http://n/api/v1/stop");
    }

    #[test]
    fn long_bodies_are_cut_at_a_char_boundary() {
        let long = "é".repeat(MAX_KEPT);
        let e = MlNodeError::status("GET", "u".into(), StatusCode::INTERNAL_SERVER_ERROR, &long);
        let MlNodeError::Status { message, .. } = e else {
            panic!("not a status error");
        };
        assert!(message.len() <= MAX_KEPT + '…'.len_utf8());
        assert!(message.ends_with('…'));
    }
}
