//! OpenTelemetry end to end: a client's W3C `traceparent` goes through the `gonka-gateway` binary
//! and a real ML node agent to the engine process with the same trace id, and an OTLP/HTTP
//! receiver started here gets the gateway's and the ML node's spans of that trace (server and
//! client kinds, parent links across each hop, HTTP semantic-convention attributes, error status
//! on a failing request).
//!
//! The ML node runs in this process with the binaries' telemetry set-up (`gonka_core::telemetry`,
//! service `gonka-mlnode`); the engine is the fake engine process of gonka-mlnode's tests, run as
//! vLLM, which logs the `traceparent` of every request it gets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use gonka_core::NodeConfig;
use gonka_mlnode::engine::EngineKind;
use gonka_mlnode::MlNodeConfig;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use prost::Message;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[path = "common/gateway_process.rs"]
mod gateway_process;

use gateway_process::GatewayProcess;

const MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const FAILING_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// One exported span and the `service.name` of its resource.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

type Store = Arc<Mutex<Vec<Received>>>;

fn string_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

async fn receive(State(store): State<Store>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut store = store.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| string_attr(&r.attributes, "service.name"))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                store.push(Received {
                    service: service.clone(),
                    span,
                });
            }
        }
    }
    Vec::new()
}

/// An OTLP/HTTP (protobuf) trace receiver on loopback: its base URL and what it got.
async fn otlp_receiver() -> (String, Store) {
    let store = Store::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(store.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), store)
}

/// Polls `f` until it returns `Some` (at most 60 s).
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..1200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn of_trace(store: &Store, trace: &str) -> Vec<Received> {
    store
        .lock()
        .unwrap()
        .iter()
        .filter(|r| hex(&r.span.trace_id) == trace)
        .cloned()
        .collect()
}

fn one<'a>(spans: &'a [Received], service: &str, kind: SpanKind) -> &'a Received {
    let found: Vec<&Received> = spans
        .iter()
        .filter(|r| r.service == service && r.span.kind == kind as i32)
        .collect();
    assert_eq!(found.len(), 1, "{service} {kind:?} spans: {spans:#?}");
    found[0]
}

fn attr(r: &Received, key: &str) -> Option<String> {
    string_attr(&r.span.attributes, key)
}

fn is_error(r: &Received) -> bool {
    r.span
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32)
}

fn fake_engine() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../gonka-mlnode/tests/fixtures/fake_engine.py")
}

async fn chat(public: &str, traceparent: Option<&str>, extra: Value) -> reqwest::Response {
    let mut body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{public}/v1/chat/completions"))
        .json(&body);
    if let Some(tp) = traceparent {
        request = request.header("traceparent", tp);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traceparent_reaches_the_engine_and_gateway_and_mlnode_export_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let header_log = dir.path().join("engine-headers.jsonl");
    // Read by the fake engine process the ML node starts (this test is alone in its binary).
    std::env::set_var("FAKE_ENGINE_HEADER_LOG", &header_log);
    let (otlp, store) = otlp_receiver().await;

    let telemetry = gonka_core::telemetry::init(
        gonka_core::logging::LogFormat::Text,
        "gonka-mlnode",
        Some(&otlp),
    )
    .unwrap();
    assert!(telemetry.exporting());
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mgmt_port, inference_port) = (
        mgmt.local_addr().unwrap().port(),
        inference.local_addr().unwrap().port(),
    );
    let config = MlNodeConfig {
        engine: EngineKind::Vllm,
        engine_cmd: Some(format!("python3 {}", fake_engine().display())),
        grace_period: Duration::from_secs(2),
        startup_timeout: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        health_interval: Duration::from_millis(200),
        drain_timeout: Duration::from_millis(500),
        ..MlNodeConfig::default()
    };
    let (stop_node, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
        let _ = stopped.await;
    }));

    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let gateway = GatewayProcess::spawn_with_env(
        &db,
        &[
            "--reconcile-interval",
            "200ms",
            "--health-interval",
            "200ms",
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let added = http
        .post(format!("{}/admin/v1/nodes", gateway.admin))
        .json(&NodeConfig::new("n1", MODEL).at("127.0.0.1", inference_port, mgmt_port))
        .send()
        .await
        .unwrap();
    let status = added.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        added.text().await.unwrap()
    );
    eventually("the node to serve through the gateway", || async {
        chat(&gateway.public, None, json!({}))
            .await
            .status()
            .is_success()
            .then_some(())
    })
    .await;

    // (a) The engine gets the client's trace id.
    let traceparent = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let answer = chat(&gateway.public, Some(&traceparent), json!({})).await;
    assert_eq!(answer.status(), 200);
    let engine_saw: Vec<Value> = std::fs::read_to_string(&header_log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let forwarded: Vec<&str> = engine_saw
        .iter()
        .filter_map(|v| v["traceparent"].as_str())
        .filter(|tp| tp.contains(TRACE))
        .collect();
    assert_eq!(forwarded.len(), 1, "{engine_saw:?}");
    // A new span id of this trace (the ML node's client span), still sampled.
    assert!(forwarded[0].starts_with(&format!("00-{TRACE}-")));
    assert!(!forwarded[0].contains(CLIENT_SPAN));
    assert!(forwarded[0].ends_with("-01"));

    // A failing request: the engine answers 500.
    let failing = format!("00-{FAILING_TRACE}-{CLIENT_SPAN}-01");
    let failed = chat(&gateway.public, Some(&failing), json!({"fake_status": 500})).await;
    assert!(failed.status().is_server_error(), "{}", failed.status());

    // The ML node's spans are flushed when its telemetry is dropped; the gateway's by its batch
    // processor (50 ms schedule).
    let _ = stop_node.send(());
    node.await.unwrap().unwrap();
    drop(telemetry);

    // (b) Both services' spans of the trace, linked across the hops.
    let spans = eventually("the gateway's and the ML node's spans", || {
        let store = store.clone();
        async move {
            let spans = of_trace(&store, TRACE);
            let services: HashSet<&str> = spans.iter().map(|r| r.service.as_str()).collect();
            let kinds = |service: &str, kind: SpanKind| {
                spans
                    .iter()
                    .any(|r| r.service == service && r.span.kind == kind as i32)
            };
            (services.len() == 2
                && kinds("gonka-gateway", SpanKind::Server)
                && kinds("gonka-gateway", SpanKind::Client)
                && kinds("gonka-mlnode", SpanKind::Server)
                && kinds("gonka-mlnode", SpanKind::Client))
            .then_some(spans)
        }
    })
    .await;
    let gw_server = one(&spans, "gonka-gateway", SpanKind::Server);
    let gw_client = one(&spans, "gonka-gateway", SpanKind::Client);
    let node_server = one(&spans, "gonka-mlnode", SpanKind::Server);
    let node_client = one(&spans, "gonka-mlnode", SpanKind::Client);
    // Client → gateway server span → (gateway's own spans) → gateway client span → ML node
    // server span → ML node client span (whose id the engine got).
    assert_eq!(hex(&gw_server.span.parent_span_id), CLIENT_SPAN);
    assert_eq!(
        hex(&node_server.span.parent_span_id),
        hex(&gw_client.span.span_id)
    );
    assert_eq!(
        hex(&node_client.span.parent_span_id),
        hex(&node_server.span.span_id)
    );
    assert!(forwarded[0].contains(&hex(&node_client.span.span_id)));
    assert_eq!(gw_server.span.name, "POST /v1/chat/completions");
    assert_eq!(
        attr(gw_server, "http.route").as_deref(),
        Some("/v1/chat/completions")
    );
    assert_eq!(
        attr(gw_server, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        attr(gw_server, "url.path").as_deref(),
        Some("/v1/chat/completions")
    );
    assert_eq!(
        attr(gw_server, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(gw_client.span.name, "POST");
    assert_eq!(
        attr(gw_client, "server.port").as_deref(),
        Some(inference_port.to_string().as_str())
    );
    assert_eq!(
        attr(gw_client, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attr(node_client, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert!(!is_error(gw_server) && !is_error(node_client));

    // The failing request: error status on the ML node's client span (engine 500) and server
    // span (5xx answered), and on the gateway's spans.
    let failing_spans = eventually("the failing request's spans", || {
        let store = store.clone();
        async move {
            let spans = of_trace(&store, FAILING_TRACE);
            (spans
                .iter()
                .any(|r| r.service == "gonka-gateway" && r.span.kind == SpanKind::Server as i32)
                && spans
                    .iter()
                    .any(|r| r.service == "gonka-mlnode" && r.span.kind == SpanKind::Client as i32))
            .then_some(spans)
        }
    })
    .await;
    let engine_call = failing_spans
        .iter()
        .find(|r| r.service == "gonka-mlnode" && r.span.kind == SpanKind::Client as i32)
        .unwrap();
    assert!(is_error(engine_call), "{engine_call:#?}");
    assert_eq!(attr(engine_call, "error.type").as_deref(), Some("500"));
    let gw_failed = failing_spans
        .iter()
        .find(|r| r.service == "gonka-gateway" && r.span.kind == SpanKind::Server as i32)
        .unwrap();
    assert!(is_error(gw_failed), "{gw_failed:#?}");
    gateway.terminate().await;
}
