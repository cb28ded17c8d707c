//! W3C trace context passed on without spans (`trace_context::set_propagation_only`, what the
//! binary does when nothing records its HTTP spans): the node gets the same `traceparent` and
//! `tracestate` shape as with the bridged spans: the client's trace id with a new span id and
//! its sampled flag, its `tracestate`, and for a request without one a new unsampled trace.
//! Both modes run against the same node, so the comparison is to the spans' own behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;
use serde_json::json;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The `traceparent` and `tracestate` of each inference request the node got.
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

/// An inference API that records the trace headers and answers a small completion.
async fn recording_inference() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap| {
            let record = record.clone();
            async move {
                let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
                record
                    .lock()
                    .unwrap()
                    .push((get("traceparent"), get("tracestate")));
                Json(
                    json!({"id": "x", "object": "chat.completion", "choices": [],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

/// Sends one chat request with `headers` and returns the trace headers the node got for it.
async fn through(
    gw: &gonka_gateway::RunningGateway,
    seen: &Seen,
    headers: &[(&str, &str)],
) -> (Option<String>, Option<String>) {
    let before = seen.lock().unwrap().len();
    let mut request = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), before + 1);
    seen[before].clone()
}

/// `(trace id, span id, flags)` of a well-formed `traceparent`.
fn parts(traceparent: &str) -> (String, String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1].len(), 32, "{traceparent}");
    assert_eq!(fields[2].len(), 16, "{traceparent}");
    assert_ne!(fields[1], "0".repeat(32));
    assert_ne!(fields[2], "0".repeat(16));
    (
        fields[1].to_owned(),
        fields[2].to_owned(),
        fields[3].to_owned(),
    )
}

async fn check_propagation(gw: &gonka_gateway::RunningGateway, seen: &Seen) {
    // A sampled client trace: same trace, new span, sampled, with its tracestate.
    let sampled = format!("00-{TRACE}-{CLIENT_SPAN}-01");
    let (tp, state) = through(
        gw,
        seen,
        &[("traceparent", &sampled), ("tracestate", "vendor=1")],
    )
    .await;
    let (trace, span, flags) = parts(&tp.unwrap());
    assert_eq!(trace, TRACE);
    assert_ne!(span, CLIENT_SPAN);
    assert_eq!(flags, "01");
    assert_eq!(state.as_deref(), Some("vendor=1"));

    // An unsampled one stays unsampled.
    let unsampled = format!("00-{TRACE}-{CLIENT_SPAN}-00");
    let (tp, state) = through(gw, seen, &[("traceparent", &unsampled)]).await;
    let (trace, span, flags) = parts(&tp.unwrap());
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "00"));
    assert_ne!(span, CLIENT_SPAN);
    assert_eq!(state.unwrap_or_default(), "", "no tracestate to carry");

    // None, or a malformed one: a new unsampled trace per request.
    let (first, _) = through(gw, seen, &[]).await;
    let (second, _) = through(gw, seen, &[("traceparent", "garbage")]).await;
    let (a, _, a_flags) = parts(&first.unwrap());
    let (b, _, b_flags) = parts(&second.unwrap());
    assert_ne!(a, b);
    assert_eq!((a_flags.as_str(), b_flags.as_str()), ("00", "00"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn propagation_only_passes_on_what_the_spans_pass_on() {
    // The binaries' set-up: W3C propagator and the span bridge, nothing exported.
    let telemetry =
        gonka_core::telemetry::init(gonka_core::logging::LogFormat::Text, "test", None).unwrap();
    assert!(!telemetry.exporting());
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let (inference_port, seen) = recording_inference().await;
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    let mut node_config = node.config("n1", 8);
    node_config.inference_port = inference_port;
    register(&registry, node_config).await;
    wait_routable(&gw, MODEL, 1).await;

    gonka_core::trace_context::set_propagation_only(false);
    check_propagation(&gw, &seen).await;
    gonka_core::trace_context::set_propagation_only(true);
    check_propagation(&gw, &seen).await;
    gonka_core::trace_context::set_propagation_only(false);
    gw.shutdown().await;
}
