//! The management client's task API methods (`/api/v1/tasks`) against wiremock answers in the
//! contract's shapes: each call's method, path and body, the decoded instances, and typed errors
//! (a refused launch, an unknown task, a node without the task API, a malformed body).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gonka_core::mlnode_api::{TaskInstance, TaskLaunch, TaskState};
use gonka_gateway::mlnode_client::{MlNodeClient, MlNodeError};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn launch() -> TaskLaunch {
    TaskLaunch {
        model: "chat".into(),
        model_path: "org/chat".into(),
        engine: "vllm".into(),
        gpu_ids: vec!["0".into(), "1".into()],
        port: 8100,
        max_model_len: 4096,
        tensor_parallel_size: 2,
        ..TaskLaunch::default()
    }
}

fn instance(state: TaskState) -> TaskInstance {
    TaskInstance {
        state,
        in_flight: 2,
        last_request_ms: 1_700_000_000_000,
        ..TaskInstance::starting("task-1", &launch(), 5)
    }
}

#[tokio::test]
async fn each_call_sends_its_method_path_and_body_and_decodes_the_instance() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/tasks/task-1"))
        .and(header("authorization", "Bearer tok"))
        .and(body_json(json!(launch())))
        .respond_with(ResponseTemplate::new(202).set_body_json(instance(TaskState::Starting)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/tasks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"tasks": [instance(TaskState::Running), instance(TaskState::Sleeping)]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/tasks/task-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance(TaskState::Running)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tasks/task-1/sleep"))
        .respond_with(ResponseTemplate::new(202).set_body_json(instance(TaskState::Sleeping)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tasks/task-1/wake"))
        .respond_with(ResponseTemplate::new(202).set_body_json(instance(TaskState::Waking)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/tasks/task-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"status": "OK"})))
        .expect(1)
        .mount(&server)
        .await;

    let node = MlNodeClient::new(&server.uri()).with_token("tok");
    let started = node.launch_task("task-1", &launch()).await.unwrap();
    assert_eq!(started.state, TaskState::Starting);
    assert_eq!(started.model, "chat");
    assert_eq!(started.gpu_ids, vec!["0".to_owned(), "1".to_owned()]);
    let list = node.tasks().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1].state, TaskState::Sleeping);
    let one = node.task("task-1").await.unwrap();
    assert_eq!((one.state, one.in_flight), (TaskState::Running, 2));
    assert_eq!(one.last_request_ms, 1_700_000_000_000);
    assert_eq!(
        node.sleep_task("task-1").await.unwrap().state,
        TaskState::Sleeping
    );
    assert_eq!(
        node.wake_task("task-1").await.unwrap().state,
        TaskState::Waking
    );
    node.stop_task("task-1").await.unwrap();
}

#[tokio::test]
async fn refusals_unknown_tasks_and_bad_bodies_are_typed_errors() {
    let server = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/v1/tasks/task-1"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "engine mindie cannot run on this node"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/tasks/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "no task gone"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tasks/task-1/sleep"))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(json!({"error": "task-1 is starting"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tasks/task-1/wake"))
        .respond_with(ResponseTemplate::new(202).set_body_string("not json"))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/tasks/task-1"))
        .respond_with(ResponseTemplate::new(500).set_body_string("disk on fire"))
        .mount(&server)
        .await;
    let node = MlNodeClient::new(&server.uri());

    let refused = node.launch_task("task-1", &launch()).await.unwrap_err();
    assert_eq!(refused.http_status(), Some(StatusCode::BAD_REQUEST));
    assert!(refused
        .to_string()
        .ends_with("engine mindie cannot run on this node"));
    let unknown = node.task("gone").await.unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");
    let busy = node.sleep_task("task-1").await.unwrap_err();
    assert!(busy.is_conflict());
    assert!(matches!(
        node.wake_task("task-1").await.unwrap_err(),
        MlNodeError::Decode { .. }
    ));
    let failed = node.stop_task("task-1").await.unwrap_err();
    assert!(failed.to_string().ends_with("disk on fire"), "{failed}");
    // A node without the task API (every other route 404s in wiremock).
    assert!(node.tasks().await.unwrap_err().is_not_found());
}
