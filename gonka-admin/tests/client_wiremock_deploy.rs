//! The deployments half of the typed client against wiremock: the exact requests it sends
//! (method, escaped path, query, body, token) and how answers a real server rarely gives (a 409
//! with a plain body, a 400 naming fields, a 502, garbage) come back as `ClientError`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gonka_admin::client::{TaskAction, TaskQuery};
use gonka_admin::{Client, ClientError};
use gonka_core::deploy::{TaskStatus, UpdateRequest, UpdateStrategy};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server() -> (MockServer, Client) {
    let server = MockServer::start().await;
    let client = Client::new(server.uri()).with_token("t0ken");
    (server, client)
}

#[tokio::test]
async fn task_filters_go_as_query_parameters_with_the_token() {
    let (s, c) = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/tasks"))
        .and(query_param("group", "tg-1 x"))
        .and(query_param("node", "gpu/1"))
        .and(query_param("status", "sleeping"))
        .and(header("authorization", "Bearer t0ken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"tasks": []})))
        .expect(1)
        .mount(&s)
        .await;
    let tasks = c
        .tasks(&TaskQuery {
            group: Some("tg-1 x".into()),
            node: Some("gpu/1".into()),
            status: Some(TaskStatus::Sleeping),
        })
        .await
        .unwrap();
    assert!(tasks.is_empty());
}

#[tokio::test]
async fn ids_are_escaped_as_one_path_segment() {
    let (s, c) = server().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tasks/task%2F..%2Fx/wake"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "no task"})))
        .expect(1)
        .mount(&s)
        .await;
    match c.task_action("task/../x", TaskAction::Wake).await {
        Err(ClientError::NotFound { message }) => assert_eq!(message, "no task"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_update_sends_the_request_as_json_and_a_409_is_a_conflict() {
    let (s, c) = server().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/task-groups/tg-1/update"))
        .and(body_json(json!({
            "model_path": null, "engine": null, "engine_args": null, "dtype": null,
            "context_length": 8192, "version": "v2", "strategy": "recreate"
        })))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"error": "an update of tg-1 is already running"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let update = UpdateRequest {
        model_path: None,
        engine: None,
        engine_args: None,
        dtype: None,
        context_length: Some(8192),
        version: Some("v2".into()),
        strategy: UpdateStrategy::Recreate,
    };
    match c.update_task_group("tg-1", &update).await {
        Err(ClientError::Conflict { message }) => {
            assert_eq!(message, "an update of tg-1 is already running")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_400_names_each_field_and_a_502_keeps_the_raw_body() {
    let (s, c) = server().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/model-routes"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid model route",
            "fields": [{"field": "weight", "message": "weight 150 is above 100"}]
        })))
        .mount(&s)
        .await;
    match c
        .create_model_route(&json!({"model_name": "m", "task_group_id": "tg-1", "weight": 150}))
        .await
    {
        Err(ClientError::Invalid { message, errors }) => {
            assert_eq!(message, "invalid model route");
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].field, "weight");
        }
        other => panic!("{other:?}"),
    }
    Mock::given(method("GET"))
        .and(path("/api/v1/model-routes"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway from the proxy"))
        .mount(&s)
        .await;
    match c.model_routes().await {
        Err(ClientError::Http { status, body }) => {
            assert_eq!(status, 502);
            assert_eq!(body, "bad gateway from the proxy");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_success_that_is_not_the_documented_shape_is_a_decode_error() {
    let (s, c) = server().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/task-groups"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"groups": []})))
        .mount(&s)
        .await;
    match c.task_groups().await {
        Err(ClientError::Decode { status, body, .. }) => {
            assert_eq!(status, 200);
            assert!(body.contains("groups"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}
