//! The embedding example's app answers both the user's route and the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gonka_core::MemoryRegistry;
use gonka_examples::embed_admin::app;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn send(app: axum::Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    (
        status,
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
}

#[tokio::test]
async fn embedded_app_serves_its_own_route_and_the_admin_api() {
    let registry = Arc::new(MemoryRegistry::new());
    let app = app(registry.clone());

    let (status, body) = send(
        app.clone(),
        Request::get("/hello").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"hello from my service\n");

    let node = json!({"id": "node1", "host": "10.0.0.21", "inference_port": 5050, "poc_port": 8080,
                      "max_concurrent": 500, "models": {"Qwen/Qwen3-32B-FP8": {"args": []}}});
    let create = Request::post("/admin/v1/nodes")
        .header("content-type", "application/json")
        .body(Body::from(node.to_string()))
        .unwrap();
    let (status, body) = send(app.clone(), create).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["node_num"],
        1
    );

    let (status, body) = send(
        app.clone(),
        Request::get("/admin/v1/nodes").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let list: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list[0]["node"]["id"], "node1");
    assert_eq!(list[0]["state"]["admin_state"]["enabled"], true);

    let (status, body) = send(app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["error"].is_string());
}
