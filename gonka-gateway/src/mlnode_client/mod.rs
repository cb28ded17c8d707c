//! [`MlNodeClient`]: a typed client of the ML node management API (`/health`,
//! `/api/v1/state`, `/api/v1/inference/*`, `/api/v1/stop`, `/api/v1/gpu/*`,
//! `/api/v1/models/*`, `/api/v1/inference/pow/*`, `/api/v1/tasks/*`), one method per call, decoding into the wire types the agent serves
//! ([`gonka_core::mlnode_api`]). Used by the health checker and the broker; every call has the
//! client's timeout and fails with a typed [`MlNodeError`].

mod error;
mod tasks;

pub use error::MlNodeError;

use gonka_core::trace_context::SendTraced;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::mlnode_api::{
    paths, DeleteReply, DiskSpace, DownloadStarted, DriverInfo, EngineLogs, GpuReport, HfModel,
    HfModelStatusReply, ModelsList, StateReport, StatusReply, UpRequest, UpStatusReport,
};
use gonka_core::poc::wire::{GenerateRequest, InitGenerateRequest, PowStatus};
use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The timeout of one call unless [`MlNodeClient::with_timeout`] sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one ML node's management API (`http://node:8080`).
///
/// Clones are cheap and share one HTTP client; [`at`](Self::at) points a clone at another node,
/// so one client serves a whole fleet.
///
/// ```no_run
/// # async fn demo() -> Result<(), gonka_gateway::mlnode_client::MlNodeError> {
/// use gonka_core::mlnode_api::UpRequest;
/// use gonka_gateway::mlnode_client::MlNodeClient;
///
/// let node = MlNodeClient::new("http://10.0.0.7:8080").with_token("s3cret");
/// let state = node.state().await?;
/// if !state.serving() {
///     node.inference_up(&UpRequest::new("Qwen/Qwen3-0.6B", Vec::new())).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MlNodeClient {
    http: reqwest::Client,
    token: Option<Arc<str>>,
    base: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for MlNodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlNodeClient")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for MlNodeClient {
    /// A client with no node yet (`at` gives it one) and the default HTTP client.
    fn default() -> Self {
        Self::new("")
    }
}

impl MlNodeClient {
    /// A client of the node at `base_url` (scheme, host and port of its management API; a
    /// trailing `/` is ignored) with a 2 s connect timeout and no idle connections kept.
    pub fn new(base_url: &str) -> Self {
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
        Self::with_http_client(base_url, http)
    }

    /// As [`new`](Self::new) with a preconfigured `reqwest::Client` (TLS, proxies, pooling).
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            http,
            token: None,
            base: Arc::from(base_url.trim_end_matches('/')),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sends `Authorization: Bearer <token>` on every `/api/*` call (ML nodes started with a
    /// management token require it). An empty token sends none.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        let token: String = token.into();
        self.token = (!token.is_empty()).then(|| Arc::from(token));
        self
    }

    /// The timeout of each call, from sending to the last byte of the answer.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client (HTTP client, token, timeout) pointed at the node at `base_url`.
    pub fn at(&self, base_url: &str) -> Self {
        Self {
            base: Arc::from(base_url.trim_end_matches('/')),
            ..self.clone()
        }
    }

    /// The management base URL this client calls.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /health` answers 2xx (the body is not read: upstream nodes answer different ones).
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn health(&self) -> Result<(), MlNodeError> {
        let (url, rb) = self.request(Method::GET, paths::HEALTH);
        let (status, body) = self.send("GET", &url, rb).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(MlNodeError::status("GET", url, status, &body))
        }
    }

    /// `GET /api/v1/state`.
    ///
    /// # Errors
    /// `Decode` when the body has no `state`; see [`MlNodeError`].
    pub async fn state(&self) -> Result<StateReport, MlNodeError> {
        self.get(paths::STATE).await
    }

    /// `GET /api/v1/inference/up/status`.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn up_status(&self) -> Result<UpStatusReport, MlNodeError> {
        self.get(paths::INFERENCE_UP_STATUS).await
    }

    /// `POST /api/v1/inference/up`: accepted answers `starting` (or `OK` when that model already
    /// runs).
    ///
    /// # Errors
    /// `Status` 409 ([`MlNodeError::is_conflict`]) when another model or PoC occupies the node,
    /// `Status` 400 when the node rejects the request; see [`MlNodeError`].
    pub async fn inference_up(&self, request: &UpRequest) -> Result<StatusReply, MlNodeError> {
        self.post(paths::INFERENCE_UP, request).await
    }

    /// `POST /api/v1/inference/down`: stops the engines.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn inference_down(&self) -> Result<StatusReply, MlNodeError> {
        self.command(paths::INFERENCE_DOWN).await
    }

    /// `POST /api/v1/stop`: stops PoC generation and every engine.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn stop(&self) -> Result<StatusReply, MlNodeError> {
        self.command(paths::STOP).await
    }

    /// `GET /api/v1/inference/logs`.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn logs(&self) -> Result<EngineLogs, MlNodeError> {
        self.get(paths::INFERENCE_LOGS).await
    }

    /// `GET /api/v1/gpu/devices`.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn gpu_devices(&self) -> Result<GpuReport, MlNodeError> {
        self.get(paths::GPU_DEVICES).await
    }

    /// `GET /api/v1/gpu/driver`.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn gpu_driver(&self) -> Result<DriverInfo, MlNodeError> {
        self.get(paths::GPU_DRIVER).await
    }

    /// `GET /api/v1/models/list`.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn models(&self) -> Result<ModelsList, MlNodeError> {
        self.get(paths::MODELS_LIST).await
    }

    /// `POST /api/v1/models/download`: start downloading `model` into the node's model cache
    /// (answered at once, `202`; the download runs on the node).
    ///
    /// # Errors
    /// `Status` 409/429 when the node refuses (another download of it, too many at once), 4xx
    /// for a bad model name; see [`MlNodeError`].
    pub async fn models_download(&self, model: &HfModel) -> Result<DownloadStarted, MlNodeError> {
        self.post(paths::MODELS_DOWNLOAD, model).await
    }

    /// `POST /api/v1/models/status`: where `model` stands in the node's cache.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn models_status(&self, model: &HfModel) -> Result<HfModelStatusReply, MlNodeError> {
        self.post(paths::MODELS_STATUS, model).await
    }

    /// `DELETE /api/v1/models`: remove `model` from the node's cache (or cancel its download).
    ///
    /// # Errors
    /// `Status` 404 when the node does not have it; see [`MlNodeError`].
    pub async fn models_delete(&self, model: &HfModel) -> Result<DeleteReply, MlNodeError> {
        let (url, rb) = self.request(Method::DELETE, paths::MODELS);
        let (status, text) = self.send("DELETE", &url, rb.json(model)).await?;
        finish("DELETE", url, status, &text)
    }

    /// `GET /api/v1/models/space`.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn models_space(&self) -> Result<DiskSpace, MlNodeError> {
        self.get(paths::MODELS_SPACE).await
    }

    /// `POST /api/v1/inference/pow/init/generate`: start generating this node's PoC nonces.
    ///
    /// # Errors
    /// `Status` 409 when the node is busy; see [`MlNodeError`].
    pub async fn pow_init_generate(
        &self,
        request: &InitGenerateRequest,
    ) -> Result<StatusReply, MlNodeError> {
        self.post(paths::POW_INIT_GENERATE, request).await
    }

    /// `POST /api/v1/inference/pow/generate`: compute (and with `validation`, judge) the given
    /// nonces. The answer is either upstream's queued form (`{status: "queued", request_id}`,
    /// the verdict follows on `{url}/validated`) or an inline result, so it is returned as JSON.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn pow_generate(
        &self,
        request: &GenerateRequest,
    ) -> Result<serde_json::Value, MlNodeError> {
        self.post(paths::POW_GENERATE, request).await
    }

    /// `POST /api/v1/inference/pow/stop`: stop PoC generation.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn pow_stop(&self) -> Result<StatusReply, MlNodeError> {
        self.command(paths::POW_STOP).await
    }

    /// `GET /api/v1/inference/pow/status`.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn pow_status(&self) -> Result<PowStatus, MlNodeError> {
        self.get(paths::POW_STATUS).await
    }

    /// `POST {path}` with an empty JSON object.
    async fn command(&self, path: &str) -> Result<StatusReply, MlNodeError> {
        self.post(path, &serde_json::json!({})).await
    }

    fn request(&self, method: Method, path: &str) -> (String, RequestBuilder) {
        let url = format!("{}{path}", self.base);
        let rb = self.http.request(method, &url).timeout(self.timeout);
        let rb = match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        };
        (url, rb)
    }

    async fn send(
        &self,
        method: &'static str,
        url: &str,
        rb: RequestBuilder,
    ) -> Result<(reqwest::StatusCode, String), MlNodeError> {
        let response = rb
            .send_traced()
            .await
            .map_err(|e| MlNodeError::transport(method, url.to_owned(), e))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| MlNodeError::transport(method, url.to_owned(), e))?;
        Ok((status, body))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, MlNodeError> {
        let (url, rb) = self.request(Method::GET, path);
        let (status, text) = self.send("GET", &url, rb).await?;
        finish("GET", url, status, &text)
    }

    async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, MlNodeError> {
        let (url, rb) = self.request(Method::POST, path);
        let (status, text) = self.send("POST", &url, rb.json(body)).await?;
        finish("POST", url, status, &text)
    }
}

fn finish<T: DeserializeOwned>(
    method: &'static str,
    url: String,
    status: reqwest::StatusCode,
    text: &str,
) -> Result<T, MlNodeError> {
    if !status.is_success() {
        return Err(MlNodeError::status(method, url, status, text));
    }
    serde_json::from_str(text).map_err(|e| MlNodeError::decode(method, url, status, text, e))
}
