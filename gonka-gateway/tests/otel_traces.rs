//! OpenTelemetry across the real binaries: a chat completion sent to `gonka-gateway` with a W3C
//! `traceparent` reaches the engine behind `gonka-mlnode` with the same trace id, and an OTLP/HTTP
//! receiver started here (decoding the protobuf with `opentelemetry-proto`) gets the gateway's and
//! the ML node's spans of that trace: server and client kinds, parent links across the hop,
//! HTTP semantic-convention attributes and an error status on a failing request. Export is
//! configured only through the standard `OTEL_*` variables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use common::{client, eventually};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const MODEL: &str = "Qwen/Qwen3-32B-FP8";

/// One exported span, flattened.
#[derive(Debug, Clone)]
struct Got {
    service: String,
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: i32,
    status: i32,
    attributes: Vec<(String, String)>,
}

impl Got {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Received = Arc<Mutex<Vec<Got>>>;

async fn receive(State(got): State<Received>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let mut spans = got.lock().unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref())
            .map(|v| text(v.value.as_ref()))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                spans.push(Got {
                    service: service.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name,
                    kind: s.kind,
                    status: s.status.map(|st| st.code).unwrap_or_default(),
                    attributes: s
                        .attributes
                        .iter()
                        .map(|a| {
                            (
                                a.key.clone(),
                                text(a.value.as_ref().and_then(|v| v.value.as_ref())),
                            )
                        })
                        .collect(),
                });
            }
        }
    }
    "{}"
}

fn text(v: Option<&AnyValue>) -> String {
    match v {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ML node binary beside this crate's (built by `cargo test --workspace`; built here when a
/// narrower `cargo test` did not).
fn mlnode_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_gonka-gateway")).with_file_name("gonka-mlnode");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "gonka-mlnode", "--bin", "gonka-mlnode"])
            .status()
            .unwrap();
        assert!(status.success(), "building gonka-mlnode failed");
    }
    path
}

fn fake_engine() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gonka-mlnode/tests/fixtures/fake_engine.py")
}

/// Reads `child`'s stderr until a line containing `marker`; the rest is drained in the
/// background.
async fn wait_line(stderr: tokio::process::ChildStderr, marker: &'static str) -> String {
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(marker) {
                return line;
            }
        }
        panic!("process exited before logging {marker:?}");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    line
}

fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .map(|v| v.trim_matches('"').trim_end_matches(',').to_owned())
        .unwrap_or_else(|| panic!("{key} not in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_traceparent_reaches_the_engine_and_both_binaries_export_their_spans_of_that_trace() {
    // The OTLP receiver.
    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp: SocketAddr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let otel_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}")),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("RUST_LOG", "info".to_owned()),
        ("NO_PROXY", "127.0.0.1".to_owned()),
    ];

    // The ML node, serving the fake vLLM engine that logs the trace headers it gets.
    let dir = tempfile::tempdir().unwrap();
    let header_log = dir.path().join("headers.jsonl");
    let mut mlnode = tokio::process::Command::new(mlnode_binary())
        .args(["--engine", "vllm", "--mgmt-listen", "127.0.0.1:0"])
        .args(["--inference-listen", "127.0.0.1:0", "--grace-period", "2s"])
        .arg("--engine-cmd")
        .arg(format!("python3 {}", fake_engine().display()))
        .envs(otel_env.clone())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = wait_line(mlnode.stderr.take().unwrap(), "ML node agent started").await;
    let mgmt: SocketAddr = field(&started, "mgmt_addr=").parse().unwrap();
    let inference: SocketAddr = field(&started, "inference_addr=").parse().unwrap();

    // The gateway, over SQLite.
    let db = format!("sqlite://{}", dir.path().join("gonka.db").display());
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-gateway"))
        .args([
            "--public-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--poc-listen", "127.0.0.1:0", "--database", &db])
        .args([
            "--health-interval",
            "200ms",
            "--reconcile-interval",
            "500ms",
        ])
        .envs(otel_env.clone())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(gateway.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = |name: &str| -> SocketAddr {
        line.split(&format!("{name} http://"))
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (public, admin) = (addr("public"), addr("admin"));

    let node = json!({
        "id": "n1", "host": "127.0.0.1",
        "inference_port": inference.port(), "poc_port": mgmt.port(), "max_concurrent": 4,
        "models": {MODEL: {"args": ["--fake-header-log", header_log.to_str().unwrap()]}}
    });
    let resp = client()
        .post(format!("http://{admin}/admin/v1/nodes"))
        .json(&node)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    eventually("the node serves through the gateway", || async {
        client()
            .get(format!("http://{public}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    let traceparent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let resp = client()
        .post(format!("http://{public}/v1/chat/completions"))
        .header("traceparent", &traceparent)
        .header("tracestate", "vendor=abc")
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A request that fails (the model has no node): its server span has an error status only if
    // 5xx; a 404 is not the server's fault.
    let missing = client()
        .post(format!("http://{public}/v1/chat/completions"))
        .json(&json!({"model": "nobody/none", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // The engine got the client's trace id, under a parent that is one of our spans.
    let logged = std::fs::read_to_string(&header_log).unwrap();
    let engine_saw: Value = serde_json::from_str(logged.lines().last().unwrap()).unwrap();
    let engine_parent = engine_saw["traceparent"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = engine_parent.split('-').collect();
    assert_eq!(parts[1], TRACE_ID, "{engine_parent}");
    assert_ne!(
        parts[2], CLIENT_SPAN,
        "the engine's parent is the ML node's span"
    );
    assert_eq!(engine_saw["tracestate"], "vendor=abc");

    // Both binaries export their spans of that trace.
    let spans: Vec<Got> = eventually_spans(&got, |spans| {
        let of_trace = spans.iter().filter(|s| s.trace_id == TRACE_ID);
        let services: std::collections::HashSet<&str> =
            of_trace.clone().map(|s| s.service.as_str()).collect();
        services.contains("gonka-gateway")
            && services.contains("gonka-mlnode")
            && of_trace.clone().any(|s| s.span_id == parts[2])
    })
    .await;
    let of_trace: Vec<&Got> = spans.iter().filter(|s| s.trace_id == TRACE_ID).collect();
    let gw_server = of_trace
        .iter()
        .find(|s| s.service == "gonka-gateway" && s.kind == SpanKind::Server as i32)
        .unwrap();
    assert_eq!(gw_server.parent, CLIENT_SPAN, "continues the client's span");
    assert_eq!(gw_server.name, "POST /v1/chat/completions");
    assert_eq!(gw_server.attr("http.request.method"), Some("POST"));
    assert_eq!(gw_server.attr("http.route"), Some("/v1/chat/completions"));
    assert_eq!(gw_server.attr("http.response.status_code"), Some("200"));
    let gw_client = of_trace
        .iter()
        .find(|s| s.service == "gonka-gateway" && s.kind == SpanKind::Client as i32)
        .unwrap();
    assert_eq!(gw_client.attr("server.address"), Some("n1"));
    assert_eq!(gw_client.attr("http.response.status_code"), Some("200"));
    let ml_server = of_trace
        .iter()
        .find(|s| s.service == "gonka-mlnode" && s.kind == SpanKind::Server as i32)
        .unwrap();
    assert_eq!(
        ml_server.parent, gw_client.span_id,
        "the ML node's span is a child of the gateway's client span"
    );
    assert_eq!(ml_server.span_id, parts[2], "and the engine's parent");
    assert_ne!(gw_server.status, StatusCode::Error as i32);

    let not_found = spans.iter().find(|s| {
        s.service == "gonka-gateway" && s.attr("http.response.status_code") == Some("404")
    });
    if let Some(s) = not_found {
        assert_ne!(
            s.status,
            StatusCode::Error as i32,
            "a 4xx is not a server error"
        );
    }

    let _ = gateway.start_kill();
    let _ = mlnode.start_kill();
}

async fn eventually_spans(got: &Received, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    for _ in 0..300 {
        {
            let spans = got.lock().unwrap();
            if done(&spans) {
                return spans.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans = got.lock().unwrap();
    panic!("spans of the trace never arrived; got {spans:#?}");
}
