//! A callback server like the network node's `/v2/poc-batches/{model}/{generated,validated}`
//! (upstream's `{url}/generated` and `{url}/validated`), recording what it receives.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

/// What the network node's callback server received: `(kind, content type, body)`.
#[derive(Default)]
pub struct Receiver {
    pub got: Mutex<Vec<(String, String, Value)>>,
    pub refuse_first: AtomicUsize,
    pub calls: AtomicUsize,
}

impl Receiver {
    /// The bodies received on `{url}/{kind}`, in arrival order.
    pub fn of(&self, kind: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _, _)| k == kind)
            .map(|(_, _, v)| v.clone())
            .collect()
    }
}

async fn receive(
    State(r): State<Arc<Receiver>>,
    Path((_model, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let call = r.calls.fetch_add(1, Ordering::SeqCst);
    if call < r.refuse_first.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let ct = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap();
    r.got.lock().unwrap().push((kind, ct, body));
    StatusCode::OK
}

/// A callback server answering 503 to its first `refuse_first` calls, then 200; its base URL
/// (`/v2/poc-batches/<model escaped twice>`, as upstream's network node builds it) and records.
pub async fn receiver(refuse_first: usize) -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver::default());
    r.refuse_first.store(refuse_first, Ordering::SeqCst);
    let app = Router::new()
        .route("/v2/poc-batches/{model}/{kind}", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        format!("http://{addr}/v2/poc-batches/Qwen%252FQwen3-32B-FP8"),
        r,
    )
}
