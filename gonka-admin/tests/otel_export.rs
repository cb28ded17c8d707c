//! The `gonka-admin` binary exports its spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
//! is set: a request with a W3C `traceparent` yields a server span of that trace, child of the
//! client's span, with the HTTP attributes, flushed when the binary stops on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use common::bin::spawn_admin;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// (service.name, span) pairs received.
type Store = Arc<Mutex<Vec<(String, opentelemetry_proto::tonic::trace::v1::Span)>>>;

async fn receive(State(store): State<Store>, body: Bytes) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(body).unwrap();
    for rs in request.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for scope in rs.scope_spans {
            for span in scope.spans {
                store.lock().unwrap().push((service.clone(), span));
            }
        }
    }
    Vec::new()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_binary_exports_a_server_span_of_the_clients_trace() {
    let store = Store::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(store.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Inherited by the binary (this test is alone in its test binary).
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp);
    let dir = tempfile::tempdir().unwrap();
    let admin = spawn_admin(&dir.path().join("admin.db"), &[]);
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/admin/v1/nodes", admin.base()))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let status = tokio::task::spawn_blocking(move || admin.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");

    let mut found = None;
    for _ in 0..600 {
        found = store
            .lock()
            .unwrap()
            .iter()
            .find(|(_, s)| hex(&s.trace_id) == TRACE && s.kind == SpanKind::Server as i32)
            .cloned();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (service, span) = found.expect("the admin binary's server span within 30 s");
    assert_eq!(service, "gonka-admin");
    assert_eq!(hex(&span.parent_span_id), PARENT);
    assert_eq!(span.name, "GET /admin/v1/nodes");
    let status_code = span
        .attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .and_then(|kv| kv.value.as_ref()?.value.clone());
    assert_eq!(status_code, Some(AnyValue::IntValue(200)));
}
