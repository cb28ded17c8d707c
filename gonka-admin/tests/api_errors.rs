//! Error answers: every one is JSON `{"error": ...}` with the documented status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use gonka_admin::{AdminOptions, SqliteRegistry};
use gonka_core::MemoryRegistry;
use serde_json::json;

#[tokio::test]
async fn malformed_json_answers_400_saying_where() {
    let s = Server::start().await;
    for path in [
        "/admin/v1/nodes",
        "/admin/v1/nodes/batch",
        "/admin/v1/nodes/n1",
    ] {
        let method = if path.ends_with("n1") { "PUT" } else { "POST" };
        let a = call_raw(
            &s,
            method,
            path,
            Some("application/json"),
            b"{\"id\": \"n1\",".to_vec(),
        )
        .await;
        assert_eq!(a.status, 400, "{path}");
        let error = a.body["error"].as_str().unwrap();
        assert!(error.starts_with("malformed JSON body: "), "{error}");
        assert!(error.contains("line 1"), "{error}");
    }
}

#[tokio::test]
async fn empty_body_answers_400() {
    let s = Server::start().await;
    let a = call_raw(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some("application/json"),
        Vec::new(),
    )
    .await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"].as_str().unwrap().contains("empty"),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn wrong_content_type_answers_415() {
    let s = Server::start().await;
    let body = serde_json::to_vec(&seed_node1()).unwrap();
    let a = call_raw(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some("application/x-www-form-urlencoded"),
        body.clone(),
    )
    .await;
    assert_eq!(a.status, 415);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{}",
        a.text
    );
    // A JSON content type with parameters is accepted; none at all is refused
    // (`limits_cross_site.rs`).
    let ok = call_raw(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
}

#[tokio::test]
async fn oversize_body_answers_413() {
    let options = AdminOptions {
        body_limit: 1024,
        ..AdminOptions::default()
    };
    let s = Server::start_with(Arc::new(MemoryRegistry::new()), options).await;
    let nodes: Vec<_> = (0..50).map(numbered_node).collect();
    let a = call(&s, "POST", "/admin/v1/nodes/batch", Some(&json!(nodes))).await;
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(
        a.body,
        json!({"error": "request body too large: the limit is 1024 bytes"})
    );
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn unknown_route_answers_404_json_and_wrong_method_405_json() {
    let s = Server::start().await;
    let a = call(&s, "GET", "/admin/v2/nothing", None).await;
    assert_eq!(a.status, 404);
    assert_eq!(
        a.body,
        json!({"error": "no such endpoint: GET /admin/v2/nothing"})
    );
    let b = call(&s, "PATCH", "/admin/v1/nodes", None).await;
    assert_eq!(b.status, 405);
    assert!(
        b.body["error"].as_str().unwrap().contains("PATCH"),
        "{}",
        b.text
    );
}

#[tokio::test]
async fn token_is_required_on_every_call_when_set() {
    let options = AdminOptions {
        token: Some("s3cret".into()),
        ..AdminOptions::default()
    };
    let s = Server::start_with(Arc::new(MemoryRegistry::new()), options).await;
    let missing = call(&s, "GET", "/admin/v1/nodes", None).await;
    assert_eq!(missing.status, 401);
    assert!(
        missing.body["error"]
            .as_str()
            .unwrap()
            .contains("bearer token"),
        "{}",
        missing.text
    );
    let unknown = call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    assert_eq!(unknown.status, 401, "writes need the token too");
    let client = reqwest::Client::new();
    let wrong = client
        .get(s.url("/admin/v1/nodes"))
        .bearer_auth("s3cret-not")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let right = client
        .post(s.url("/admin/v1/nodes"))
        .bearer_auth("s3cret")
        .json(&seed_node1())
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    assert!(s.registry.get("node1").await.is_ok());
}

#[tokio::test]
async fn storage_down_answers_503() {
    let registry = Arc::new(SqliteRegistry::in_temp_dir().await.unwrap());
    let s = Server::start_with(Arc::clone(&registry) as _, AdminOptions::default()).await;
    registry.close().await;
    for (method, path, body) in [
        ("GET", "/admin/v1/nodes", None),
        ("POST", "/admin/v1/nodes", Some(seed_node1())),
        ("POST", "/admin/v1/nodes/batch", Some(json!([seed_node1()]))),
        ("POST", "/admin/v1/nodes/node1/disable", None),
    ] {
        let a = call(&s, method, path, body.as_ref()).await;
        assert_eq!(a.status, 503, "{method} {path}: {}", a.text);
        assert!(
            a.body["error"]
                .as_str()
                .unwrap()
                .starts_with("storage unavailable"),
            "{}",
            a.text
        );
    }
}
