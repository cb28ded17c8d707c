//! [`EngineForwarder`]: PoC v2 on a vLLM engine (the gonka-ai fork computes PoC inside the
//! engine, on the served model), forwarded as upstream's ML node forwards it
//! (`api/inference/pow_v2_routes.py` over `api/proxy.py`):
//!
//! - the backends are the ready engine replicas, by port ascending;
//! - `init/generate` goes to every backend, backend `i` getting `group_id: i` and
//!   `n_groups: <backends>`; `503` without backends, `502 {detail: {errors}}` when none
//!   accepted;
//! - `stop` goes to every backend; `status` asks every backend and aggregates (`GENERATING`,
//!   `IDLE`, `MIXED`, `NO_BACKENDS`), each entry `{port, ...engine status}`;
//! - `generate` goes to one backend in turn (round robin); a queued answer's `request_id` becomes
//!   `<port>:<id>`, which `GET generate/<port>:<id>` routes back to that backend; an engine's
//!   error status comes back with `{detail: <engine body>}`, an unreachable engine is `502`.
//!
//! Bodies are re-encoded as upstream's pydantic models dump them (`wire`); a body they would
//! refuse is `422`. One difference: a result id naming a port that is no engine of this node is
//! `502` without any call (upstream would call whatever listens there).

pub(crate) mod wire;

use gonka_core::trace_context::SendTraced;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// The engine's PoC routes (`vllm/poc/routes.py`).
pub mod engine_paths {
    /// Start generating this node's nonces.
    pub const INIT_GENERATE: &str = "/api/v1/pow/init/generate";
    /// Compute (or queue) given nonces.
    pub const GENERATE: &str = "/api/v1/pow/generate";
    /// Generation state.
    pub const STATUS: &str = "/api/v1/pow/status";
    /// Stop generation and clear the queue.
    pub const STOP: &str = "/api/v1/pow/stop";
}

/// Upstream's per-call timeout to a backend (`call_backend`, 60 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer of a forwarded PoC route.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body,
        }
    }

    /// FastAPI's `HTTPException(status, detail)`: `{"detail": detail}`.
    pub(crate) fn detail(status: StatusCode, detail: impl Into<Value>) -> Self {
        Self {
            status,
            body: json!({ "detail": detail.into() }),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// What one backend call gave: its status and body text, or why it failed.
type CallResult = Result<(StatusCode, String), String>;

/// Forwards PoC calls to the engines (see the module docs). One per agent: it holds the round
/// robin of `generate`.
#[derive(Debug)]
pub struct EngineForwarder {
    client: reqwest::Client,
    next: AtomicUsize,
}

impl Default for EngineForwarder {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads `body` as upstream's pydantic model `T`; FastAPI answers `422` when it cannot.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    let body = if body.is_empty() { b"null" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        Reply::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"type": "value_error", "loc": ["body"], "msg": e.to_string()}]),
        )
    })
}

fn no_backends() -> Reply {
    Reply::detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "No vLLM backends available",
    )
}

impl EngineForwarder {
    /// A forwarder with its own HTTP client.
    pub fn new() -> Self {
        Self {
            client: crate::http_client(),
            next: AtomicUsize::new(0),
        }
    }

    async fn call(&self, base_url: &str, path: &str, body: Option<&Value>) -> CallResult {
        let url = format!("{}{path}", base_url.trim_end_matches('/'));
        let request = match body {
            Some(b) => self.client.post(url).json(b),
            None => self.client.get(url),
        };
        let response = request
            .timeout(CALL_TIMEOUT)
            .send_traced()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    /// `POST /api/v1/inference/pow/init/generate` to every engine in `engines` (port → URL).
    pub async fn init_generate(&self, engines: &BTreeMap<u16, String>, body: &[u8]) -> Reply {
        let request: wire::InitGenerate = match parse(body) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if engines.is_empty() {
            return no_backends();
        }
        let n_groups = engines.len();
        let calls = engines.iter().enumerate().map(|(group_id, (port, url))| {
            let mut payload = serde_json::to_value(&request).unwrap_or(Value::Null);
            payload["group_id"] = json!(group_id);
            payload["n_groups"] = json!(n_groups);
            async move {
                let result = self
                    .call(url, engine_paths::INIT_GENERATE, Some(&payload))
                    .await;
                (*port, result)
            }
        });
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for (port, result) in futures::future::join_all(calls).await {
            match accepted(result) {
                Ok(()) => results.push(json!({"port": port, "status": "OK"})),
                Err(error) => errors.push(json!({"port": port, "error": error})),
            }
        }
        if results.is_empty() {
            return Reply::detail(StatusCode::BAD_GATEWAY, json!({ "errors": errors }));
        }
        Reply::ok(json!({
            "status": "OK",
            "backends": results.len(),
            "n_groups": n_groups,
            "results": results,
            "errors": none_if_empty(errors),
        }))
    }

    /// `POST /api/v1/inference/pow/stop` to every engine.
    pub async fn stop(&self, engines: &BTreeMap<u16, String>) -> Reply {
        if engines.is_empty() {
            return Reply::ok(json!({"status": "OK", "message": "No backends to stop"}));
        }
        let empty = json!({});
        let calls = engines.iter().map(|(port, url)| {
            let empty = &empty;
            async move { (*port, self.call(url, engine_paths::STOP, Some(empty)).await) }
        });
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for (port, result) in futures::future::join_all(calls).await {
            match accepted(result) {
                Ok(()) => results.push(json!({"port": port, "status": "stopped"})),
                Err(error) => errors.push(json!({"port": port, "error": error})),
            }
        }
        Reply::ok(json!({
            "status": "OK",
            "results": results,
            "errors": none_if_empty(errors),
        }))
    }

    /// `GET /api/v1/inference/pow/status`: every engine's status and their aggregate.
    pub async fn status(&self, engines: &BTreeMap<u16, String>) -> Reply {
        if engines.is_empty() {
            return Reply::ok(json!({"status": "NO_BACKENDS", "backends": []}));
        }
        let calls = engines.iter().map(|(port, url)| async move {
            (*port, self.call(url, engine_paths::STATUS, None).await)
        });
        let backends: Vec<Value> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|(port, result)| {
                let mut entry = Map::new();
                entry.insert("port".into(), json!(port));
                match result {
                    Ok((StatusCode::OK, text)) => match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(data)) => entry.extend(data),
                        _ => error_entry(&mut entry, text),
                    },
                    Ok((_, text)) | Err(text) => error_entry(&mut entry, text),
                }
                Value::Object(entry)
            })
            .collect();
        let statuses: Vec<&str> = backends
            .iter()
            .map(|b| b["status"].as_str().unwrap_or("UNKNOWN"))
            .collect();
        Reply::ok(json!({"status": aggregate(&statuses), "backends": backends}))
    }

    /// `POST /api/v1/inference/pow/generate` to one engine in turn.
    pub async fn generate(&self, engines: &BTreeMap<u16, String>, body: &[u8]) -> Reply {
        let request: wire::Generate = match parse(body) {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if engines.is_empty() {
            return no_backends();
        }
        let turn = self.next.fetch_add(1, Ordering::SeqCst) % engines.len();
        let Some((port, url)) = engines.iter().nth(turn) else {
            return no_backends();
        };
        let payload = serde_json::to_value(&request).unwrap_or(Value::Null);
        let (status, text) = match self.call(url, engine_paths::GENERATE, Some(&payload)).await {
            Ok(answer) => answer,
            Err(e) => return Reply::detail(StatusCode::BAD_GATEWAY, e),
        };
        if status != StatusCode::OK {
            return Reply::detail(status, text);
        }
        let mut data: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => return Reply::detail(StatusCode::BAD_GATEWAY, e.to_string()),
        };
        if data["status"] == "queued" {
            if let Some(id) = data.get("request_id").map(id_text) {
                data["request_id"] = json!(format!("{port}:{id}"));
            }
        }
        Reply::ok(data)
    }

    /// `GET /api/v1/inference/pow/generate/<port>:<id>`: the result from the engine on `port`.
    pub async fn generate_result(
        &self,
        engines: &BTreeMap<u16, String>,
        request_id: &str,
    ) -> Reply {
        let Some((port, id)) = request_id.split_once(':') else {
            return Reply::detail(
                StatusCode::BAD_REQUEST,
                "Invalid request_id format (expected port:uuid)",
            );
        };
        let Ok(port) = port.parse::<u16>() else {
            return Reply::detail(StatusCode::BAD_REQUEST, "Invalid port in request_id");
        };
        let Some(url) = engines.get(&port) else {
            return Reply::detail(
                StatusCode::BAD_GATEWAY,
                format!("no engine of this node serves on port {port}"),
            );
        };
        let path = format!("{}/{id}", engine_paths::GENERATE);
        let (status, text) = match self.call(url, &path, None).await {
            Ok(answer) => answer,
            Err(e) => return Reply::detail(StatusCode::BAD_GATEWAY, e),
        };
        if status == StatusCode::NOT_FOUND {
            return Reply::detail(StatusCode::NOT_FOUND, "Request not found");
        }
        if status != StatusCode::OK {
            return Reply::detail(status, text);
        }
        match serde_json::from_str::<Value>(&text) {
            Ok(mut data) => {
                data["request_id"] = json!(request_id);
                Reply::ok(data)
            }
            Err(e) => Reply::detail(StatusCode::BAD_GATEWAY, e.to_string()),
        }
    }

    /// The engines' PoC state for `/api/v1/state`'s `poc_status`, as upstream's: `GENERATING`
    /// or `VALIDATING` when every engine is, `MIXED` when some are, `IDLE` otherwise;
    /// `NO_BACKENDS` without a ready engine.
    pub async fn poc_status(&self, engines: &BTreeMap<u16, String>) -> String {
        if engines.is_empty() {
            return "NO_BACKENDS".to_owned();
        }
        let calls = engines
            .values()
            .map(|url| self.call(url, engine_paths::STATUS, None));
        let statuses: Vec<String> = futures::future::join_all(calls)
            .await
            .into_iter()
            .map(|r| match r {
                Ok((StatusCode::OK, text)) => serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["status"].as_str().map(str::to_owned))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .collect();
        let all = |s: &str| statuses.iter().all(|x| x == s);
        if all("GENERATING") {
            "GENERATING"
        } else if all("VALIDATING") {
            "VALIDATING"
        } else if statuses
            .iter()
            .any(|s| s == "GENERATING" || s == "VALIDATING")
        {
            "MIXED"
        } else {
            "IDLE"
        }
        .to_owned()
    }
}

/// `Ok` for a `200` answer, else upstream's error entry: the body text or the failure.
fn accepted(result: CallResult) -> Result<(), String> {
    match result {
        Ok((StatusCode::OK, _)) => Ok(()),
        Ok((_, text)) | Err(text) => Err(text),
    }
}

fn none_if_empty(errors: Vec<Value>) -> Value {
    if errors.is_empty() {
        Value::Null
    } else {
        Value::Array(errors)
    }
}

fn error_entry(entry: &mut Map<String, Value>, detail: String) {
    entry.insert("status".into(), json!("ERROR"));
    entry.insert("detail".into(), json!(detail));
}

fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Upstream's aggregate of `/pow/status` over the backends.
fn aggregate(statuses: &[&str]) -> &'static str {
    if statuses.iter().all(|s| *s == "GENERATING") {
        "GENERATING"
    } else if statuses.contains(&"GENERATING") {
        "MIXED"
    } else if statuses.iter().all(|s| *s == "IDLE") {
        "IDLE"
    } else {
        "MIXED"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_aggregate_follows_upstream() {
        assert_eq!(aggregate(&["GENERATING", "GENERATING"]), "GENERATING");
        assert_eq!(aggregate(&["GENERATING", "IDLE"]), "MIXED");
        assert_eq!(aggregate(&["IDLE", "IDLE"]), "IDLE");
        assert_eq!(aggregate(&["IDLE", "ERROR"]), "MIXED");
    }

    #[tokio::test]
    async fn without_engines_upstreams_answers_come_back() {
        let f = EngineForwarder::new();
        let none = BTreeMap::new();
        let init = br#"{"block_hash":"h","block_height":1,"public_key":"p","node_id":0,
            "node_count":1,"params":{"model":"m","seq_len":8}}"#;
        let r = f.init_generate(&none, init).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.body, json!({"detail": "No vLLM backends available"}));
        assert_eq!(
            f.status(&none).await.body,
            json!({"status": "NO_BACKENDS", "backends": []})
        );
        assert_eq!(
            f.stop(&none).await.body,
            json!({"status": "OK", "message": "No backends to stop"})
        );
        assert_eq!(f.poc_status(&none).await, "NO_BACKENDS");
        let r = f.init_generate(&none, b"{}").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let r = f.generate_result(&none, "no-colon").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = f.generate_result(&none, "x:1").await;
        assert_eq!(r.body, json!({"detail": "Invalid port in request_id"}));
        let r = f.generate_result(&none, "5001:1").await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    }
}
