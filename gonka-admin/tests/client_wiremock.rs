//! The typed client against wiremock, for answers a real server does not easily give.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gonka_admin::{Client, ClientError};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mock(status: u16, body: &str) -> (MockServer, Client) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/admin/v1/nodes"))
        .respond_with(ResponseTemplate::new(status).set_body_string(body))
        .mount(&server)
        .await;
    let client = Client::new(server.uri());
    (server, client)
}

#[tokio::test]
async fn status_500_is_an_http_error_with_the_raw_body() {
    let (_s, c) = mock(500, "internal kaboom").await;
    match c.list().await {
        Err(ClientError::Http { status, body }) => {
            assert_eq!(status, 500);
            assert_eq!(body, "internal kaboom");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn garbage_success_body_is_a_decode_error() {
    let (_s, c) = mock(200, "<html>not json</html>").await;
    match c.list().await {
        Err(ClientError::Decode { status, body, .. }) => {
            assert_eq!(status, 200);
            assert!(body.contains("not json"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn status_503_is_unavailable_with_the_message() {
    let (_s, c) = mock(503, r#"{"error": "storage unavailable: disk on fire"}"#).await;
    match c.list().await {
        Err(ClientError::Unavailable { message }) => {
            assert_eq!(message, "storage unavailable: disk on fire");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn garbage_error_bodies_keep_the_text_as_message() {
    let (_s, c) = mock(404, "plain not found").await;
    match c.list().await {
        Err(ClientError::NotFound { message }) => assert_eq!(message, "plain not found"),
        other => panic!("{other:?}"),
    }
    let (_s, c) = mock(400, "{broken json").await;
    match c.list().await {
        Err(ClientError::Invalid { message, errors }) => {
            assert_eq!(message, "{broken json");
            assert!(errors.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn partial_batch_with_a_garbage_body_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/admin/v1/nodes/batch"))
        .respond_with(ResponseTemplate::new(206).set_body_json(json!({"nodes": 5})))
        .mount(&server)
        .await;
    let c = Client::new(server.uri());
    let node = gonka_core::NodeConfig::new("a", "Qwen/QwQ-32B");
    assert!(matches!(
        c.batch(&[node]).await,
        Err(ClientError::Decode { status: 206, .. })
    ));
}

#[tokio::test]
async fn token_is_sent_as_a_bearer_header_and_ids_are_escaped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/admin/v1/nodes/a%20b/enable"))
        .and(header("authorization", "Bearer tok"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"message": "node enabled successfully", "node_id": "a b"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::new(server.uri()).with_token("tok");
    let r = c.enable("a b").await.unwrap();
    assert_eq!(r.node_id, "a b");
}

#[tokio::test]
async fn json_methods_send_the_body_as_is_and_decode_the_answers() {
    let server = MockServer::start().await;
    let raw = json!({"id": "n1", "host": "h", "extra": [1, 2]});
    let stored = json!({"id": "n1", "host": "h", "inference_port": 1, "poc_port": 2,
        "models": {"m": {"args": []}}, "max_concurrent": 1, "node_num": 4});
    Mock::given(method("POST"))
        .and(path("/admin/v1/nodes"))
        .and(header("content-type", "application/json"))
        .and(wiremock::matchers::body_json(&raw))
        .respond_with(ResponseTemplate::new(200).set_body_json(&stored))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/admin/v1/nodes/n%2F1"))
        .and(wiremock::matchers::body_json(json!({"host": "h"})))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "validation failed: node id must not contain '/'",
            "fields": [{"field": "id", "message": "node id must not contain '/'"}]})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/admin/v1/nodes/batch"))
        .and(wiremock::matchers::body_json(
            json!([{"id": "a"}, {"id": "b"}]),
        ))
        .respond_with(ResponseTemplate::new(206).set_body_json(json!({
            "nodes": [stored.clone()],
            "errors": [{"index": 1, "id": "b", "error": "validation failed: host is required",
                "fields": [{"field": "host", "message": "host is required"}]}]})))
        .expect(1)
        .mount(&server)
        .await;
    let c = Client::new(server.uri());
    let node = c.create_json(&raw).await.unwrap();
    assert_eq!((node.id.as_str(), node.node_num), ("n1", 4));
    match c.put_json("n/1", &json!({"host": "h"})).await {
        Err(ClientError::Invalid { message, errors }) => {
            assert!(message.contains("must not contain"), "{message}");
            assert_eq!(errors[0].field, "id");
        }
        other => panic!("{other:?}"),
    }
    match c.batch_json(&json!([{"id": "a"}, {"id": "b"}])).await {
        Err(ClientError::PartialBatch { nodes, errors }) => {
            assert_eq!(nodes[0].id, "n1");
            assert_eq!((errors[0].index, errors[0].id.as_str()), (1, "b"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn status_409_is_a_conflict_with_the_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tasks/task-1-r0-tg-1-0000/wake"))
        .respond_with(ResponseTemplate::new(409).set_body_json(
            json!({"error": "cannot wake task task-1-r0-tg-1-0000: illegal task transition: running → waking"}),
        ))
        .mount(&server)
        .await;
    let c = Client::new(server.uri());
    match c
        .task_action("task-1-r0-tg-1-0000", gonka_admin::client::TaskAction::Wake)
        .await
    {
        Err(ClientError::Conflict { message }) => assert!(message.contains("running → waking")),
        other => panic!("{other:?}"),
    }
}
