//! A small client of the ML node management API (`/health`, `/api/v1/state`, `/inference/up`,
//! ...), used by the health checker and the broker. Every call has its own timeout.

use std::time::Duration;

use gonka_core::NodeStatus;
use serde::Deserialize;

/// What `GET /api/v1/state` reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MlState {
    /// The node's status mapped to ours (`POW` → POC, `TRAIN` → TRAINING, unknown → UNKNOWN).
    pub status: NodeStatus,
    /// Model the engine serves, when reported.
    pub loaded_model: Option<String>,
    /// Engine kind, when reported.
    pub engine: Option<String>,
    /// Requests waiting in the engine, when reported.
    pub queue_depth: Option<u32>,
    /// Whether an engine answers ready (`inference_healthy`), when reported.
    pub inference_healthy: Option<bool>,
    /// The node's last error (`last_error`), when reported.
    pub last_error: Option<String>,
}

impl MlState {
    /// INFERENCE with a ready engine (or no readiness reported).
    pub fn serving(&self) -> bool {
        self.status == NodeStatus::Inference && self.inference_healthy != Some(false)
    }
}

/// Result of `POST /api/v1/inference/up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpResult {
    /// Accepted (starting or started).
    Accepted,
    /// 409: already running or starting; the node's explanation.
    Busy(String),
}

#[derive(Deserialize)]
struct StateBody {
    state: Option<String>,
    loaded_model: Option<String>,
    engine: Option<String>,
    queue_depth: Option<u32>,
    inference_healthy: Option<bool>,
    last_error: Option<String>,
}

#[derive(Deserialize)]
struct Devices {
    #[serde(default)]
    devices: Vec<Device>,
}

#[derive(Deserialize)]
struct Device {
    name: Option<String>,
    total_memory_mb: Option<u64>,
}

/// Maps an ML node state string to a [`NodeStatus`].
pub fn map_state(s: &str) -> NodeStatus {
    match s.to_ascii_uppercase().as_str() {
        "INFERENCE" => NodeStatus::Inference,
        "POW" | "POC" => NodeStatus::Poc,
        "TRAIN" | "TRAINING" => NodeStatus::Training,
        "STOPPED" => NodeStatus::Stopped,
        "FAILED" => NodeStatus::Failed,
        _ => NodeStatus::Unknown,
    }
}

/// Management API client; reuses one connection pool for every node.
#[derive(Clone)]
pub struct MgmtClient {
    http: reqwest::Client,
    token: Option<std::sync::Arc<str>>,
}

impl std::fmt::Debug for MgmtClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MgmtClient")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for MgmtClient {
    fn default() -> Self {
        Self::new()
    }
}

impl MgmtClient {
    /// A client with a 2 s connect timeout.
    pub fn new() -> Self {
        // No idle management connections: each call (a health check every few seconds, broker
        // calls) opens its own. An idle hyper connection holds ~26 KB of buffers, so pooling
        // cost the gateway ~78 MB with 1,000 nodes (3 per node were measured:
        // benches/load/MEMORY.md), while a loopback or LAN connect per check is cheap, and a
        // check over a fresh connection also proves the node still accepts new ones.
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        Self { http, token: None }
    }

    /// The same client sending `Authorization: Bearer <token>` on every call (ML nodes started
    /// with a management token require it on `/api/*`).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty()).map(std::sync::Arc::from);
        self
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn get(&self, url: String, timeout: Duration) -> Result<reqwest::Response, String> {
        let resp = self
            .auth(self.http.get(&url))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(&url, &e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(format!("GET {url} answered {}", resp.status()))
        }
    }

    /// `GET {base}/health` answers 2xx.
    ///
    /// # Errors
    /// A message naming the URL and the problem.
    pub async fn health(&self, base: &str, timeout: Duration) -> Result<(), String> {
        self.get(format!("{base}/health"), timeout)
            .await
            .map(|_| ())
    }

    /// `GET {base}/api/v1/state`.
    ///
    /// # Errors
    /// A message naming the URL and the problem (unreachable, non-2xx, body without `state`).
    pub async fn state(&self, base: &str, timeout: Duration) -> Result<MlState, String> {
        let url = format!("{base}/api/v1/state");
        let body: StateBody = self
            .get(url.clone(), timeout)
            .await?
            .json()
            .await
            .map_err(|e| format!("GET {url}: unreadable body: {e}"))?;
        let state = body
            .state
            .ok_or_else(|| format!("GET {url}: body has no `state`"))?;
        Ok(MlState {
            status: map_state(&state),
            loaded_model: body.loaded_model.filter(|m| !m.is_empty()),
            engine: body.engine.filter(|e| !e.is_empty()),
            queue_depth: body.queue_depth,
            inference_healthy: body.inference_healthy,
            last_error: body.last_error.filter(|e| !e.is_empty()),
        })
    }

    /// `GET {base}/api/v1/gpu/devices`: the first device's name and the smallest total memory.
    ///
    /// # Errors
    /// A message naming the URL and the problem.
    pub async fn gpu(
        &self,
        base: &str,
        timeout: Duration,
    ) -> Result<(Option<String>, Option<u64>), String> {
        let url = format!("{base}/api/v1/gpu/devices");
        let body: Devices = self
            .get(url.clone(), timeout)
            .await?
            .json()
            .await
            .map_err(|e| format!("GET {url}: unreadable body: {e}"))?;
        let name = body.devices.iter().find_map(|d| d.name.clone());
        let vram = body.devices.iter().filter_map(|d| d.total_memory_mb).min();
        Ok((name, vram))
    }

    async fn post(
        &self,
        url: String,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<reqwest::Response, String> {
        self.auth(self.http.post(&url))
            .json(&body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(&url, &e))
    }

    /// `POST {base}/api/v1/inference/up {model, dtype: "auto", additional_args}`.
    ///
    /// # Errors
    /// A message naming the URL and the problem (unreachable, timeout, non-2xx other than 409).
    pub async fn inference_up(
        &self,
        base: &str,
        model: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<UpResult, String> {
        let url = format!("{base}/api/v1/inference/up");
        let body = serde_json::json!({"model": model, "dtype": "auto", "additional_args": args});
        let resp = self.post(url.clone(), body, timeout).await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(UpResult::Accepted);
        }
        let text = resp.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::CONFLICT {
            return Ok(UpResult::Busy(text));
        }
        Err(format!("POST {url} answered {status}: {text}"))
    }

    /// `POST {base}/api/v1/{action}` with an empty JSON body (`inference/down`, `stop`).
    ///
    /// # Errors
    /// A message naming the URL and the problem.
    pub async fn command(&self, base: &str, action: &str, timeout: Duration) -> Result<(), String> {
        let url = format!("{base}/api/v1/{action}");
        let resp = self
            .post(url.clone(), serde_json::json!({}), timeout)
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("POST {url} answered {}", resp.status()))
        }
    }
}

fn describe(url: &str, e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("{url}: timed out")
    } else if e.is_connect() {
        format!("{url}: connection failed")
    } else {
        format!("{url}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_state_names_map_to_statuses() {
        assert_eq!(map_state("INFERENCE"), NodeStatus::Inference);
        assert_eq!(map_state("POW"), NodeStatus::Poc);
        assert_eq!(map_state("TRAIN"), NodeStatus::Training);
        assert_eq!(map_state("stopped"), NodeStatus::Stopped);
        assert_eq!(map_state("LOADING"), NodeStatus::Unknown);
    }
}
