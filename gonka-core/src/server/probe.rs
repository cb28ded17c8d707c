//! Kubernetes-style liveness and readiness answers shared by every binary.
//!
//! - `GET /livez` answers `200 {"status":"alive"}` while the process serves HTTP at all; it
//!   checks nothing else, so a probe restarting on failure only restarts a wedged process.
//! - `GET /readyz` answers `200` when every check of [`Readiness`] passes and `503` otherwise,
//!   with a JSON body naming each check and, for a failing one, why: a load balancer takes the
//!   process out of rotation without restarting it.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::{Error, NodeRegistry};

/// How long a readiness check of the registry database may take before it counts as failed.
pub const REGISTRY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The id the registry check reads: no node may have it (ids are validated), so a healthy
/// database answers "not found".
const PROBE_ID: &str = "__gonka_readiness_probe__";

/// The answer of `GET /livez`: always `200 {"status":"alive"}`.
pub async fn livez() -> Response {
    (StatusCode::OK, Json(serde_json::json!({"status": "alive"}))).into_response()
}

/// One check's result in a readiness answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Whether the check passed.
    pub ok: bool,
    /// What was seen: a count or state when it passed, the reason when it failed.
    pub detail: String,
}

/// A readiness answer: ready exactly when every check passed. Renders as `200`/`503` with
/// `{"status":"ready"|"not ready","checks":{name:{ok,detail}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// The checks by name, in name order.
    pub checks: BTreeMap<&'static str, Check>,
}

impl Readiness {
    /// An empty answer (ready until a failing check is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds check `name` that passed, with `detail`.
    pub fn pass(mut self, name: &'static str, detail: impl Into<String>) -> Self {
        self.checks.insert(
            name,
            Check {
                ok: true,
                detail: detail.into(),
            },
        );
        self
    }

    /// Adds check `name` that failed, with the reason.
    pub fn fail(mut self, name: &'static str, reason: impl Into<String>) -> Self {
        self.checks.insert(
            name,
            Check {
                ok: false,
                detail: reason.into(),
            },
        );
        self
    }

    /// Adds check `name` from a result: `Ok(detail)` passed, `Err(reason)` failed.
    pub fn check(self, name: &'static str, result: Result<String, String>) -> Self {
        match result {
            Ok(detail) => self.pass(name, detail),
            Err(reason) => self.fail(name, reason),
        }
    }

    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.checks.values().all(|c| c.ok)
    }
}

impl IntoResponse for Readiness {
    fn into_response(self) -> Response {
        let ready = self.is_ready();
        let code = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let body = serde_json::json!({
            "status": if ready { "ready" } else { "not ready" },
            "checks": self.checks,
        });
        let mut response = (code, Json(body)).into_response();
        if !ready {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 5.into());
        }
        response
    }
}

/// Whether `registry`'s storage answers within `timeout`: it reads one node id no node can
/// have, so a database that answers (with "not found") passes and one that is down, slow or
/// failing does not. `Ok` carries `"answers"`, `Err` the reason.
pub async fn registry_answers(
    registry: &dyn NodeRegistry,
    timeout: Duration,
) -> Result<String, String> {
    within(timeout, registry.get(PROBE_ID)).await
}

async fn within<T>(
    timeout: Duration,
    read: impl Future<Output = crate::Result<T>>,
) -> Result<String, String> {
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(_)) | Ok(Err(Error::NotFound { .. })) => Ok("answers".into()),
        Ok(Err(e)) => Err(format!("registry unavailable: {e}")),
        Err(_) => Err(format!(
            "registry did not answer within {} ms",
            timeout.as_millis()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryRegistry;

    #[tokio::test]
    async fn a_memory_registry_answers() {
        let r = MemoryRegistry::new();
        assert_eq!(
            registry_answers(&r, REGISTRY_CHECK_TIMEOUT).await,
            Ok("answers".to_string())
        );
    }

    #[tokio::test]
    async fn a_registry_that_never_answers_fails_within_the_timeout() {
        let slow = std::future::pending::<crate::Result<()>>();
        let r = within(Duration::from_millis(10), slow).await;
        assert_eq!(r, Err("registry did not answer within 10 ms".to_string()));
    }

    #[tokio::test]
    async fn a_failing_registry_names_the_error() {
        let failing = async {
            Err::<(), _>(Error::Unavailable(
                std::io::Error::other("connection refused").into(),
            ))
        };
        let r = within(Duration::from_secs(1), failing).await;
        assert!(r.unwrap_err().contains("connection refused"));
    }

    #[test]
    fn readiness_is_ready_only_when_every_check_passed() {
        let r = Readiness::new().pass("a", "ok");
        assert!(r.is_ready());
        let r = r.fail("b", "down");
        assert!(!r.is_ready());
        let resp = r.into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.headers().contains_key("retry-after"));
    }
}
