//! A small OpenTelemetry trace exporter: a `tracing` layer that turns closed spans into OTLP
//! spans and posts them in batches to `{endpoint}/v1/traces` using OTLP/HTTP with the JSON
//! encoding (no protobuf toolchain needed; every OTLP collector accepts it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Spans buffered before new ones are dropped (the exporter never blocks the request path).
const BUFFER: usize = 8192;
/// Spans per POST.
const BATCH: usize = 512;
/// Longest time a span waits before being sent.
const FLUSH_EVERY: Duration = Duration::from_secs(2);

/// One finished span, ready to encode.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedSpan {
    /// 16-byte trace id.
    pub trace_id: [u8; 16],
    /// 8-byte span id.
    pub span_id: [u8; 8],
    /// Parent span id, when the span has a parent.
    pub parent_span_id: Option<[u8; 8]>,
    /// Span name.
    pub name: String,
    /// Start, nanoseconds since the Unix epoch.
    pub start_ns: u128,
    /// End, nanoseconds since the Unix epoch.
    pub end_ns: u128,
    /// Recorded fields.
    pub attributes: Vec<(String, String)>,
}

struct SpanData {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    start_ns: u128,
    attributes: Vec<(String, String)>,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The layer; create with [`layer`].
#[derive(Debug)]
pub struct OtlpLayer {
    tx: mpsc::Sender<FinishedSpan>,
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut rng = rand::thread_rng();
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id, d.span_id))
        });
        let (trace_id, parent_span_id) = match parent {
            Some((t, s)) => (t, Some(s)),
            None => (rng.gen::<[u8; 16]>(), None),
        };
        let mut attributes = Vec::new();
        attrs.record(&mut Fields(&mut attributes));
        span.extensions_mut().insert(SpanData {
            trace_id,
            span_id: rng.gen::<[u8; 8]>(),
            parent_span_id,
            start_ns: now_ns(),
            attributes,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(data) = span.extensions_mut().get_mut::<SpanData>() {
                values.record(&mut Fields(&mut data.attributes));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        let finished = FinishedSpan {
            trace_id: data.trace_id,
            span_id: data.span_id,
            parent_span_id: data.parent_span_id,
            name: span.name().to_owned(),
            start_ns: data.start_ns,
            end_ns: now_ns(),
            attributes: data.attributes,
        };
        // Full buffer: drop the span rather than slow a request down.
        let _ = self.tx.try_send(finished);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encodes spans as an OTLP/JSON `ExportTraceServiceRequest`.
pub fn encode(service: &str, spans: &[FinishedSpan]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut v = json!({
                "traceId": hex(&s.trace_id),
                "spanId": hex(&s.span_id),
                "name": s.name,
                "kind": 1,
                "startTimeUnixNano": s.start_ns.to_string(),
                "endTimeUnixNano": s.end_ns.to_string(),
                "attributes": s.attributes.iter().map(|(k, v)| json!({
                    "key": k, "value": {"stringValue": v}
                })).collect::<Vec<_>>(),
            });
            if let Some(p) = s.parent_span_id {
                v["parentSpanId"] = Value::String(hex(&p));
            }
            v
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "gonka-gateway"}, "spans": spans}]
    }]})
}

/// An OTLP endpoint that is not an `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--otlp-endpoint {endpoint:?}: expected an http:// or https:// URL of an OTLP/HTTP collector"
)]
pub struct InvalidEndpoint {
    /// The endpoint as given.
    pub endpoint: String,
}

/// A layer exporting to `endpoint` (e.g. `http://127.0.0.1:4318`) and the task that sends the
/// batches; spawn the task on the runtime.
///
/// # Errors
/// [`InvalidEndpoint`] when the endpoint is not an http(s) URL.
pub fn layer(
    endpoint: &str,
    service: &str,
) -> Result<
    (
        OtlpLayer,
        impl std::future::Future<Output = ()> + Send + 'static,
    ),
    InvalidEndpoint,
> {
    let base = endpoint.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(InvalidEndpoint {
            endpoint: endpoint.to_owned(),
        });
    }
    let url = if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    };
    let service = service.to_owned();
    let (tx, mut rx) = mpsc::channel::<FinishedSpan>(BUFFER);
    let export = async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let deadline = tokio::time::sleep(FLUSH_EVERY);
            tokio::pin!(deadline);
            let open = loop {
                tokio::select! {
                    span = rx.recv() => match span {
                        Some(s) => {
                            batch.push(s);
                            if batch.len() >= BATCH { break true; }
                        }
                        None => break false,
                    },
                    () = &mut deadline => break true,
                }
            };
            if !batch.is_empty() {
                let body = encode(&service, &batch);
                batch.clear();
                // Errors are not logged through tracing: that would feed spans back in a loop.
                if let Err(e) = client.post(&url).json(&body).send().await {
                    eprintln!("otlp export to {url} failed: {e}");
                }
            }
            if !open {
                return;
            }
        }
    };
    Ok((OtlpLayer { tx }, export))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_otlp_json_shape() {
        let span = FinishedSpan {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: Some([3; 8]),
            name: "proxy".into(),
            start_ns: 10,
            end_ns: 20,
            attributes: vec![("model".into(), "m".into())],
        };
        let v = encode("gonka-gateway", &[span]);
        let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "01".repeat(16));
        assert_eq!(s["spanId"], "02".repeat(8));
        assert_eq!(s["parentSpanId"], "03".repeat(8));
        assert_eq!(s["startTimeUnixNano"], "10");
        assert_eq!(s["attributes"][0]["value"]["stringValue"], "m");
        assert_eq!(
            v["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "gonka-gateway"
        );
    }

    #[test]
    fn rejects_a_non_http_endpoint() {
        let e = layer("localhost:4318", "s").err().map(|e| e.endpoint);
        assert_eq!(e.as_deref(), Some("localhost:4318"));
    }

    #[tokio::test]
    async fn closed_spans_are_posted_to_the_collector() {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::SubscriberExt;

        let received: Arc<Mutex<Vec<Value>>> = Arc::default();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post({
                let received = received.clone();
                move |axum::Json(v): axum::Json<Value>| async move {
                    received.lock().unwrap().push(v);
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let (otlp, export) = layer(&format!("http://{addr}"), "test-service").unwrap();
        let subscriber = tracing_subscriber::registry().with(otlp);
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!("request", method = "POST");
            let _e = outer.enter();
            let inner = tracing::info_span!("upstream", node = "n1");
            drop(inner.enter());
        });
        // The layer (and its sender) is gone with the subscriber: the exporter flushes and ends.
        tokio::time::timeout(Duration::from_secs(10), export)
            .await
            .unwrap();
        let got = received.lock().unwrap().clone();
        let spans: Vec<&Value> = got
            .iter()
            .flat_map(|v| {
                v["resourceSpans"][0]["scopeSpans"][0]["spans"]
                    .as_array()
                    .unwrap()
            })
            .collect();
        assert_eq!(spans.len(), 2);
        let upstream = spans.iter().find(|s| s["name"] == "upstream").unwrap();
        let request = spans.iter().find(|s| s["name"] == "request").unwrap();
        assert_eq!(upstream["traceId"], request["traceId"]);
        assert_eq!(upstream["parentSpanId"], request["spanId"]);
        assert_eq!(upstream["attributes"][0]["key"], "node");
    }
}
