//! `gonka-admin` exports its request spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set: a receiver started here (protobuf decoded with `opentelemetry-proto`) gets server spans
//! named `{method} {route}` under service `gonka-admin`, continuing the caller's `traceparent`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use tokio::io::AsyncBufReadExt;

/// (service, span name, trace id, parent span id) of every exported span.
type Received = Arc<Mutex<Vec<(String, String, String, String)>>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn receive(State(got): State<Received>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref()?.value.clone())
            .map(|v| match v {
                AnyValue::StringValue(s) => s,
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
            got.lock().unwrap().push((
                service.clone(),
                s.name,
                hex(&s.trace_id),
                hex(&s.parent_span_id),
            ));
        }
    }
    "{}"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_binary_exports_its_request_spans() {
    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/traces", post(receive))
        .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gonka.db").display());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .args(["--listen", "127.0.0.1:0", "--database", &db])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("admin API listening") {
                let addr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="));
                return addr.unwrap().trim_matches('"').to_owned();
            }
        }
        panic!("gonka-admin exited before listening");
    })
    .await
    .unwrap();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let parent = "b7ad6b7169203331";
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}/admin/v1/nodes"))
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let mut seen = Vec::new();
    for _ in 0..300 {
        seen = got.lock().unwrap().clone();
        if seen.iter().any(|(_, _, t, _)| t == trace) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let span = seen
        .iter()
        .find(|(_, _, t, _)| t == trace)
        .unwrap_or_else(|| panic!("no span of the trace arrived: {seen:?}"));
    assert_eq!(span.0, "gonka-admin");
    assert_eq!(span.1, "GET /admin/v1/nodes");
    assert_eq!(span.3, parent);
    let _ = child.start_kill();
}
