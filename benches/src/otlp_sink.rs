//! A minimal OTLP/HTTP trace receiver for the load harness: accepts `POST /v1/traces` with a
//! protobuf `ExportTraceServiceRequest` (what the gateway's exporter sends), decodes it, counts
//! requests, bytes and spans, and answers an empty `ExportTraceServiceResponse`. `GET /counts`
//! answers the totals as JSON, so the harness can show that export really happened. It keeps
//! nothing but the counters.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tokio::net::TcpListener;

/// What the sink received so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Export requests decoded.
    pub requests: AtomicU64,
    /// Bytes of their bodies.
    pub bytes: AtomicU64,
    /// Spans in them.
    pub spans: AtomicU64,
    /// Export requests refused (not protobuf, or an unreadable body).
    pub rejected: AtomicU64,
}

impl Counts {
    /// The totals as `{"requests":..,"bytes":..,"spans":..,"rejected":..}`.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "bytes": self.bytes.load(Ordering::Relaxed),
            "spans": self.spans.load(Ordering::Relaxed),
            "rejected": self.rejected.load(Ordering::Relaxed),
        })
    }
}

type Body = Full<Bytes>;

fn answer(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn refuse(counts: &Counts, status: StatusCode, message: String) -> Response<Body> {
    counts.rejected.fetch_add(1, Ordering::Relaxed);
    answer(status, "text/plain", Bytes::from(message))
}

async fn export(counts: &Counts, request: Request<Incoming>) -> Response<Body> {
    let body = match request.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return refuse(
                counts,
                StatusCode::BAD_REQUEST,
                format!("unreadable body: {e}"),
            )
        }
    };
    let decoded = match ExportTraceServiceRequest::decode(body.as_ref()) {
        Ok(d) => d,
        Err(e) => {
            return refuse(
                counts,
                StatusCode::BAD_REQUEST,
                format!("not a protobuf ExportTraceServiceRequest: {e}"),
            )
        }
    };
    let spans: usize = decoded
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum();
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    counts.spans.fetch_add(spans as u64, Ordering::Relaxed);
    // An empty ExportTraceServiceResponse encodes to no bytes: full success.
    answer(StatusCode::OK, "application/x-protobuf", Bytes::new())
}

async fn handle(counts: Arc<Counts>, request: Request<Incoming>) -> Response<Body> {
    match (request.method(), request.uri().path()) {
        (&Method::POST, "/v1/traces") => export(&counts, request).await,
        (&Method::GET, "/counts") => answer(
            StatusCode::OK,
            "application/json",
            Bytes::from(counts.to_json().to_string()),
        ),
        (method, path) => answer(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from(format!(
                "no route for {method} {path} on the OTLP sink (POST /v1/traces, GET /counts)"
            )),
        ),
    }
}

/// Serves the sink on `listener`, counting into `counts`, until `shutdown` completes;
/// connections still open then are dropped.
///
/// # Errors
/// Only when accepting on the listener fails for good (not for a failed connection).
pub async fn serve(
    listener: TcpListener,
    counts: Arc<Counts>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    crate::serve::serve(
        listener,
        move |req| handle(Arc::clone(&counts), req),
        shutdown,
    )
    .await
}
