//! Property: arbitrary JSON values and arbitrary bytes sent to create, batch and put never panic
//! a handler and always get a 2xx, or a 4xx with an `error` or `errors` body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use gonka_admin::{router, AdminOptions};
use gonka_core::MemoryRegistry;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z_]{0,12}".prop_map(Value::String),
        Just(Value::String("Qwen/QwQ-32B".into())),
        (0u32..70_000).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        let keys = prop_oneof![
            Just("id".to_owned()),
            Just("host".to_owned()),
            Just("inference_port".to_owned()),
            Just("poc_port".to_owned()),
            Just("max_concurrent".to_owned()),
            Just("models".to_owned()),
            Just("args".to_owned()),
            Just("hardware".to_owned()),
            Just("Qwen/QwQ-32B".to_owned()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn send(method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let app = router(Arc::new(MemoryRegistry::new()), AdminOptions::default());
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn check(status: u16, body: &Value) -> Result<(), TestCaseError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    prop_assert!((400..500).contains(&status), "status {status}: {body}");
    prop_assert!(
        body.get("error").is_some_and(Value::is_string)
            || body.get("errors").is_some_and(Value::is_array),
        "4xx without error/errors: {status} {body}"
    );
    Ok(())
}

const TARGETS: [(&str, &str); 3] = [
    ("POST", "/admin/v1/nodes"),
    ("POST", "/admin/v1/nodes/batch"),
    ("PUT", "/admin/v1/nodes/n1"),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_gets_2xx_or_4xx_with_an_error_body(value in arb_json(), target in 0usize..3) {
        let (method, path) = TARGETS[target];
        let bytes = serde_json::to_vec(&value).unwrap();
        let (status, body) = rt().block_on(send(method, path, bytes));
        check(status, &body)?;
    }

    #[test]
    fn arbitrary_json_batches_get_2xx_or_4xx_with_an_error_body(values in prop::collection::vec(arb_json(), 0..6)) {
        let bytes = serde_json::to_vec(&values).unwrap();
        let (status, body) = rt().block_on(send("POST", "/admin/v1/nodes/batch", bytes));
        check(status, &body)?;
    }

    #[test]
    fn arbitrary_bytes_get_2xx_or_4xx_with_an_error_body(bytes in prop::collection::vec(any::<u8>(), 0..512), target in 0usize..3) {
        let (method, path) = TARGETS[target];
        let (status, body) = rt().block_on(send(method, path, bytes));
        check(status, &body)?;
    }
}

#[test]
fn deeply_nested_json_is_rejected_not_a_stack_overflow() {
    let depth = 100_000;
    let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
    let (status, body) = rt().block_on(send("POST", "/admin/v1/nodes/batch", body));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("recursion"),
        "{body}"
    );
}
