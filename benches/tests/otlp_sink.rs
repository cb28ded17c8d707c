#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The OTLP sink decodes what an OTLP/HTTP exporter sends and counts requests, bytes and spans.

use std::sync::Arc;
use std::time::Duration;

use gonka_benches::otlp_sink::{serve, Counts};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::net::TcpListener;

fn spans(n: usize) -> Vec<Span> {
    (0..n)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![u8::try_from(i).unwrap() + 1; 8],
            name: format!("span {i}"),
            ..Span::default()
        })
        .collect()
}

#[tokio::test]
async fn export_requests_are_decoded_and_their_spans_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let counts = Arc::new(Counts::default());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, Arc::clone(&counts), async {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // Two resources, three scopes, 2 + 1 + 3 spans.
    let request = ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans {
                scope_spans: vec![
                    ScopeSpans {
                        spans: spans(2),
                        ..ScopeSpans::default()
                    },
                    ScopeSpans {
                        spans: spans(1),
                        ..ScopeSpans::default()
                    },
                ],
                ..ResourceSpans::default()
            },
            ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: spans(3),
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            },
        ],
    };
    let body = request.encode_to_vec();
    let r = client
        .post(format!("{base}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-protobuf");
    assert!(r.bytes().await.unwrap().is_empty());

    // Not protobuf: refused and counted apart.
    let r = client
        .post(format!("{base}/v1/traces"))
        .body("not protobuf")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let totals: serde_json::Value = client
        .get(format!("{base}/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        totals,
        serde_json::json!({"requests": 1, "bytes": body.len(), "spans": 6, "rejected": 1})
    );
    let r = client.get(format!("{base}/v1/logs")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}
