//! A fake ML node for gateway tests: a real HTTP server on 127.0.0.1 with the management API
//! (`/health`, `/api/v1/state`, `/api/v1/inference/up|down`, `/api/v1/stop`) and an OpenAI
//! inference API that streams SSE. It runs on its own runtime so a test can kill it abruptly
//! (every socket closes, as when the process dies).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::watch;

/// Observable and steerable state of a fake node.
#[derive(Debug)]
pub struct FakeState {
    pub model: String,
    pub state: Mutex<&'static str>,
    /// Streams currently open.
    pub active: AtomicUsize,
    /// Highest number of streams open at once.
    pub max_active: AtomicUsize,
    /// Completion requests received.
    pub received: AtomicUsize,
    /// The next N completion requests answer 500.
    pub fail_next: AtomicU32,
    /// `inference/up` never answers.
    pub hang_up: AtomicBool,
    /// `inference/up` calls received.
    pub up_calls: AtomicUsize,
    /// `GET /health` calls received (the gateway's health checks).
    pub health_checks: AtomicUsize,
    /// While false, streams send their first token then wait.
    pub release: watch::Sender<bool>,
    /// Tokens per answer.
    pub tokens: usize,
    /// Delay between tokens.
    pub token_delay: Duration,
    /// Inference requests that reached the node, before any body limit.
    pub arrived: AtomicUsize,
    /// When set, the next answers die part way like a killed node (see [`Cut`]).
    pub cut: Mutex<Option<Cut>>,
    /// The body of the last completion request received.
    pub last_body: Mutex<Option<Value>>,
    /// Context window reported with the loaded model in `loaded_models` (`None`: the field is
    /// not sent, as upstream's node does not).
    pub context_length: Option<u32>,
}

/// How an answer dies part way: the node's connection is aborted (no terminating chunk, as when
/// the process is killed) after some of the body was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// A stream sends this many whole SSE events; a non-streamed answer (sent with its
    /// `content-length`) sends half its JSON.
    AfterEvents(usize),
    /// A stream sends this many whole SSE events, then half of the next one.
    MidEvent(usize),
}

impl FakeState {
    pub fn set_state(&self, s: &'static str) {
        *self.state.lock().unwrap() = s;
    }
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
    pub fn health_checks(&self) -> usize {
        self.health_checks.load(Ordering::SeqCst)
    }
    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }
    pub fn set_cut(&self, cut: Option<Cut>) {
        *self.cut.lock().unwrap() = cut;
    }
    pub fn open_gate(&self) {
        let _ = self.release.send(true);
    }
    pub fn close_gate(&self) {
        let _ = self.release.send(false);
    }
}

/// Options of a fake node.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub model: String,
    /// Initial state reported by `/api/v1/state`.
    pub state: &'static str,
    pub tokens: usize,
    pub token_delay: Duration,
    /// Streams wait after their first token until the gate opens.
    pub gated: bool,
    /// GPU reported by `/api/v1/gpu/devices` (name, total MiB); `None`: no such route.
    pub gpu: Option<(&'static str, u64)>,
    /// Bearer token `/api/*` requires (`/health` stays open), as `gonka-mlnode --token`.
    pub token: Option<&'static str>,
    /// Management answers carry `Connection: close`, so every health check opens a new
    /// connection (and needs a free file descriptor in the gateway).
    pub close_connections: bool,
    /// Largest request body the inference API reads (axum's `DefaultBodyLimit`: a larger body
    /// is answered 413 without being read); `None`: axum's default.
    pub body_limit: Option<usize>,
    /// Reported as the loaded model's context window (`loaded_models`); `None`: not reported.
    pub context_length: Option<u32>,
}

impl FakeOptions {
    pub fn serving(model: &str) -> Self {
        Self {
            model: model.into(),
            state: "INFERENCE",
            tokens: 5,
            token_delay: Duration::from_millis(5),
            gated: false,
            gpu: None,
            token: None,
            close_connections: false,
            body_limit: None,
            context_length: None,
        }
    }
}

/// A running fake node.
pub struct FakeMlNode {
    pub state: Arc<FakeState>,
    pub mgmt_addr: SocketAddr,
    pub inference_addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeMlNode {
    /// Starts on fresh ports.
    pub fn start(options: FakeOptions) -> Self {
        Self::start_on(
            options,
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
    }

    /// Starts on the given ports (used to bring a killed node back on the same address).
    pub fn start_on(options: FakeOptions, mgmt: SocketAddr, inference: SocketAddr) -> Self {
        let (release, _) = watch::channel(!options.gated);
        let state = Arc::new(FakeState {
            model: options.model.clone(),
            state: Mutex::new(options.state),
            active: AtomicUsize::new(0),
            max_active: AtomicUsize::new(0),
            received: AtomicUsize::new(0),
            fail_next: AtomicU32::new(0),
            hang_up: AtomicBool::new(false),
            up_calls: AtomicUsize::new(0),
            health_checks: AtomicUsize::new(0),
            release,
            tokens: options.tokens,
            token_delay: options.token_delay,
            arrived: AtomicUsize::new(0),
            cut: Mutex::new(None),
            last_body: Mutex::new(None),
            context_length: options.context_length,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let mgmt_l = bind_retrying(mgmt);
        let inf_l = bind_retrying(inference);
        let mgmt_addr = mgmt_l.local_addr().unwrap();
        let inference_addr = inf_l.local_addr().unwrap();
        let gpu = options.gpu;
        let options_token = options.token;
        let close_connections = options.close_connections;
        let mut mgmt_router = Router::new();
        if let Some((name, mb)) = gpu {
            mgmt_router = mgmt_router.route(
                "/api/v1/gpu/devices",
                get(move || async move {
                    Json(json!({"devices": [{"index": 0, "name": name, "total_memory_mb": mb,
                        "free_memory_mb": mb, "used_memory_mb": 0, "utilization_percent": 0,
                        "temperature_c": 40, "is_available": true, "error_message": null}], "count": 1}))
                }),
            );
        }
        let mgmt_router = mgmt_router
            .route(
                "/health",
                get(|s: State<Arc<FakeState>>| async move {
                    s.health_checks.fetch_add(1, Ordering::SeqCst);
                    Json(json!({"status": "ok"}))
                }),
            )
            .route("/api/v1/state", get(get_state))
            .route("/api/v1/inference/up", post(inference_up))
            .route("/api/v1/inference/down", post(stop))
            .route("/api/v1/stop", post(stop))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| async move {
                    let open = !req.uri().path().starts_with("/api/");
                    let presented = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let mut response = match options_token {
                        Some(t) if !open && presented != Some(format!("Bearer {t}")) => {
                            StatusCode::UNAUTHORIZED.into_response()
                        }
                        _ => next.run(req).await,
                    };
                    if close_connections {
                        response.headers_mut().insert(
                            axum::http::header::CONNECTION,
                            axum::http::HeaderValue::from_static("close"),
                        );
                    }
                    response
                },
            ));
        let mut inference_router = Router::new()
            .route("/v1/chat/completions", post(complete))
            .route("/v1/completions", post(complete))
            .with_state(state.clone());
        if let Some(limit) = options.body_limit {
            inference_router = inference_router.layer(axum::extract::DefaultBodyLimit::max(limit));
        }
        let counted = state.clone();
        let inference_router = inference_router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counted.arrived.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
        runtime.spawn(async move {
            let l = tokio::net::TcpListener::from_std(mgmt_l).unwrap();
            let _ = axum::serve(l, mgmt_router).await;
        });
        runtime.spawn(async move {
            let l = tokio::net::TcpListener::from_std(inf_l).unwrap();
            let _ = axum::serve(l, inference_router).await;
        });
        Self {
            state,
            mgmt_addr,
            inference_addr,
            runtime: Some(runtime),
        }
    }

    /// Kills the node: every listener and connection closes at once.
    pub fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// The node's registry configuration.
    pub fn config(&self, id: &str, max_concurrent: u32) -> gonka_core::NodeConfig {
        gonka_core::NodeConfig::new(id, self.state.model.clone())
            .at(
                "127.0.0.1",
                self.inference_addr.port(),
                self.mgmt_addr.port(),
            )
            .max_concurrent(max_concurrent)
    }
}

impl Drop for FakeMlNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn bind_retrying(addr: SocketAddr) -> std::net::TcpListener {
    for _ in 0..100 {
        if let Ok(l) = std::net::TcpListener::bind(addr) {
            l.set_nonblocking(true).unwrap();
            return l;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("cannot bind {addr}");
}

async fn get_state(State(s): State<Arc<FakeState>>) -> Json<Value> {
    let state = *s.state.lock().unwrap();
    let loaded = (state == "INFERENCE").then(|| s.model.clone());
    let mut body = json!({"state": state, "loaded_model": loaded, "version": "fake"});
    if let (Some(context), Some(model)) = (s.context_length, &loaded) {
        body["loaded_models"] = json!([{"name": model, "context_length": context}]);
    }
    Json(body)
}

async fn inference_up(State(s): State<Arc<FakeState>>, Json(body): Json<Value>) -> Response {
    s.up_calls.fetch_add(1, Ordering::SeqCst);
    if s.hang_up.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    if body["model"] != s.model.as_str() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "unknown model"})),
        )
            .into_response();
    }
    s.set_state("INFERENCE");
    Json(json!({"status": "OK"})).into_response()
}

async fn stop(State(s): State<Arc<FakeState>>) -> Json<Value> {
    s.set_state("STOPPED");
    Json(json!({"status": "OK"}))
}

struct ActiveGuard(Arc<FakeState>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn complete(State(s): State<Arc<FakeState>>, body: Bytes) -> Response {
    s.received.fetch_add(1, Ordering::SeqCst);
    let fail = s
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response();
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or_default();
    *s.last_body.lock().unwrap() = Some(req.clone());
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    let now = s.active.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_active.fetch_max(now, Ordering::SeqCst);
    let guard = ActiveGuard(s.clone());
    let cut = *s.cut.lock().unwrap();
    if req["stream"].as_bool() != Some(true) {
        let mut gate = s.release.subscribe();
        let _ = gate.wait_for(|open| *open).await;
        tokio::time::sleep(s.token_delay * s.tokens as u32).await;
        drop(guard);
        let text = "tok ".repeat(s.tokens);
        let answer = json!({
            "id": "cmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": s.tokens, "total_tokens": s.tokens + 1}
        });
        if cut.is_some() {
            // Half the answer under its full content-length, then the connection dies.
            let whole = serde_json::to_vec(&answer).unwrap();
            let half = Bytes::copy_from_slice(&whole[..whole.len() / 2]);
            let delay = s.token_delay;
            let body = futures::stream::unfold(0, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok(half), 1)),
                        1 => {
                            // The half leaves (the server flushes while the body waits) before
                            // the connection dies.
                            tokio::time::sleep(delay).await;
                            Some((Err(std::io::Error::other("node killed")), 2))
                        }
                        _ => None,
                    }
                }
            });
            return Response::builder()
                .header("content-type", "application/json")
                .header("content-length", whole.len())
                .body(Body::from_stream(body))
                .unwrap();
        }
        return Json(answer).into_response();
    }
    // As vLLM: with `stream_options.include_usage` a last chunk carries the usage.
    let include_usage = req["stream_options"]["include_usage"].as_bool() == Some(true);
    let stream = futures::stream::unfold(
        (0usize, guard, s.release.subscribe()),
        move |(i, guard, mut gate)| {
            let model = model.clone();
            async move {
                let s = guard.0.clone();
                if i == usize::MAX - 1 {
                    tokio::time::sleep(s.token_delay).await;
                    return Some((
                        Err(std::io::Error::other("node killed")),
                        (usize::MAX, guard, gate),
                    ));
                }
                if i > s.tokens {
                    return None;
                }
                if i == s.tokens {
                    let usage = if include_usage {
                        let chunk = json!({
                            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                            "model": model, "choices": [],
                            "usage": {"prompt_tokens": 1, "completion_tokens": s.tokens,
                                "total_tokens": s.tokens + 1}
                        });
                        format!("data: {chunk}\n\n")
                    } else {
                        String::new()
                    };
                    return Some((
                        Ok::<_, std::io::Error>(Bytes::from(format!("{usage}data: [DONE]\n\n"))),
                        (i + 1, guard, gate),
                    ));
                }
                if i > 0 {
                    let _ = gate.wait_for(|open| *open).await;
                    tokio::time::sleep(s.token_delay).await;
                }
                let chunk = json!({
                    "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                    "choices": [{"index": 0, "delta": {"content": format!("tok{i} ")}, "finish_reason": null}]
                });
                let event = format!("data: {chunk}\n\n");
                match cut {
                    // The events before the cut left while the body waited (the server flushes
                    // then); the connection now dies without its terminating chunk.
                    Some(Cut::AfterEvents(n)) if i == n => Some((
                        Err(std::io::Error::other("node killed")),
                        (usize::MAX, guard, gate),
                    )),
                    Some(Cut::MidEvent(n)) if i == n => Some((
                        Ok(Bytes::from(event[..event.len() / 2].to_owned())),
                        (usize::MAX - 1, guard, gate),
                    )),
                    _ => Some((Ok(Bytes::from(event)), (i + 1, guard, gate))),
                }
            }
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}
