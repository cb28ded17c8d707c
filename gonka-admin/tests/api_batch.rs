//! `POST /admin/v1/nodes/batch`: 201 / 206 / 400 with the exact shapes, and 10,000 nodes at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use gonka_admin::{AdminOptions, SqliteRegistry};
use serde_json::{json, Value};

#[tokio::test]
async fn batch_of_the_seed_example_answers_201_with_a_bare_array() {
    let s = Server::start().await;
    let a = call(
        &s,
        "POST",
        "/admin/v1/nodes/batch",
        Some(&json!([seed_node1(), seed_node2()])),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        a.body,
        json!([stored(seed_node1(), 1), stored(seed_node2(), 2)])
    );
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn batch_with_one_invalid_node_answers_206_with_nodes_and_errors() {
    let s = Server::start().await;
    let mut bad = seed_node2();
    bad["max_concurrent"] = json!(0);
    let a = call(
        &s,
        "POST",
        "/admin/v1/nodes/batch",
        Some(&json!([seed_node1(), bad])),
    )
    .await;
    assert_eq!(a.status, 206, "{}", a.text);
    assert_eq!(
        a.body,
        json!({
            "nodes": [stored(seed_node1(), 1)],
            "errors": [{
                "index": 1,
                "id": "node2",
                "error": "validation failed: max_concurrent must be greater than 0, got 0",
                "fields": [{"field": "max_concurrent", "message": "max_concurrent must be greater than 0, got 0"}]
            }]
        })
    );
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "the valid node is stored"
    );
}

#[tokio::test]
async fn batch_conflicting_with_a_stored_node_reports_it_in_206() {
    let s = Server::start().await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    let mut clash = seed_node2();
    clash["host"] = json!("10.0.0.21");
    clash["id"] = json!("node3");
    let a = call(
        &s,
        "POST",
        "/admin/v1/nodes/batch",
        Some(&json!([clash, seed_node2()])),
    )
    .await;
    assert_eq!(a.status, 206, "{}", a.text);
    assert_eq!(a.body["nodes"], json!([stored(seed_node2(), 2)]));
    assert_eq!(a.body["errors"][0]["index"], 0);
    assert_eq!(a.body["errors"][0]["id"], "node3");
    assert_eq!(
        a.body["errors"][0]["error"],
        "validation failed: duplicate inference host+port combination: 10.0.0.21:5050 (already used by node 'node1')"
    );
}

#[tokio::test]
async fn batch_where_every_node_fails_answers_400_with_errors() {
    let s = Server::start().await;
    let a = call(
        &s,
        "POST",
        "/admin/v1/nodes/batch",
        Some(&json!([{"id": "a"}, seed_node1(), seed_node1()])),
    )
    .await;
    // The second copy of node1 is a duplicate id, the first node is incomplete; node1 is valid.
    assert_eq!(a.status, 206, "{}", a.text);
    let b = call(
        &s,
        "POST",
        "/admin/v1/nodes/batch",
        Some(&json!([{"id": "x", "host": "h"}, {"models": 3}])),
    )
    .await;
    assert_eq!(b.status, 400, "{}", b.text);
    let errors = b.body["errors"].as_array().unwrap();
    assert_eq!(
        b.body.as_object().unwrap().len(),
        1,
        "only `errors`: {}",
        b.text
    );
    assert_eq!(errors.len(), 2);
    assert_eq!(
        (errors[0]["index"].clone(), errors[0]["id"].clone()),
        (json!(0), json!("x"))
    );
    assert_eq!(
        (errors[1]["index"].clone(), errors[1]["id"].clone()),
        (json!(1), json!(""))
    );
    assert!(
        errors[1]["error"].as_str().unwrap().contains("models"),
        "{}",
        b.text
    );
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only node1 from the first batch"
    );
}

#[tokio::test]
async fn batch_body_that_is_not_a_non_empty_array_answers_400_with_error() {
    let s = Server::start().await;
    for body in [json!([]), seed_node1(), json!("nodes")] {
        let a = call(&s, "POST", "/admin/v1/nodes/batch", Some(&body)).await;
        assert_eq!(a.status, 400, "{body}");
        assert!(a.body["error"].is_string(), "{}", a.text);
    }
}

#[tokio::test]
async fn batch_of_ten_thousand_nodes_is_stored_in_one_request() {
    let registry = Arc::new(SqliteRegistry::in_temp_dir().await.unwrap());
    let s = Server::start_with(registry, AdminOptions::default()).await;
    let nodes: Vec<Value> = (0..10_000).map(numbered_node).collect();
    let client = reqwest::Client::new();
    let response = client
        .post(s.url("/admin/v1/nodes/batch"))
        .json(&nodes)
        .send()
        .await
        .unwrap();
    let a = answer(response).await;
    assert_eq!(a.status, 201, "{}", &a.text[..a.text.len().min(500)]);
    assert_eq!(a.body.as_array().unwrap().len(), 10_000);
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 10_000);
    for (i, record) in list.iter().enumerate() {
        assert_eq!(record["node"]["id"], format!("n{i}"));
        assert_eq!(record["node"]["node_num"], i + 1);
    }
}
