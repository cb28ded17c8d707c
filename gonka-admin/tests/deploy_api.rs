//! The deployments API (`/api/v1`) through HTTP on a real server, over the in-memory and the
//! SQLite deployment stores: creation's eight steps, bad input named field by field with nothing
//! created, state-machine moves (409 naming both states), scaling, deletion rules, model routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gonka_admin::{deploy_router, AdminOptions, FleetGpus, SqliteDeploymentStore};
use gonka_core::deploy::placement::{GpuSlot, PlacementNode};
use gonka_core::deploy::{DeploymentStore, GpuVendor, MemoryDeploymentStore};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[derive(Debug)]
struct Fleet(Vec<PlacementNode>);

impl FleetGpus for Fleet {
    fn nodes(&self) -> Vec<PlacementNode> {
        self.0.clone()
    }
}

fn h100_node() -> PlacementNode {
    PlacementNode {
        id: "gpu-node-1".into(),
        healthy: true,
        gpus: (0..2)
            .map(|i| GpuSlot {
                gpu_id: i.to_string(),
                name: "NVIDIA H100 80GB HBM3".into(),
                vendor: GpuVendor::Nvidia,
                total_mb: 81_559,
                cuda_capability: Some(90),
                temperature_c: Some(40),
                residents: Vec::new(),
            })
            .collect(),
        engines: vec!["vllm".into()],
        disk_models: Vec::new(),
        cpu_percent: 5.0,
        memory_percent: 5.0,
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
    store: Arc<dyn DeploymentStore>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Api {
    async fn start(store: Arc<dyn DeploymentStore>, token: Option<&str>) -> Self {
        let options = AdminOptions {
            token: token.map(str::to_owned),
            ..AdminOptions::default()
        };
        let fleet: Arc<dyn FleetGpus> = Arc::new(Fleet(vec![h100_node()]));
        let app = deploy_router(store.clone(), Some(fleet), &options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(gonka_admin::run(app, listener, async move {
            let _ = stopped.await;
        }));
        Self {
            base,
            http: reqwest::Client::new(),
            store,
            _stop: stop,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth("t0ken");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn fields(body: &Value) -> Vec<String> {
    body["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn lifecycle(store: Arc<dyn DeploymentStore>) {
    let api = Api::start(store, Some("t0ken")).await;
    // Unauthenticated calls are refused.
    let anon = reqwest::get(format!("{}/api/v1/task-groups", api.base))
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);

    // Create: group, 2 replicas × 1 task, route, endpoint, key shown once, audit.
    let (status, created) = api
        .call(
            "POST",
            "/api/v1/task-groups",
            Some(
                json!({"name": "qwen-chat", "model_path": "Qwen/Qwen2.5-7B-Instruct",
                        "replicas": 2, "max_replicas": 4, "gpu_type": "H100"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let group = &created["task_group"];
    let gid = group["id"].as_str().unwrap().to_owned();
    assert!(gid.starts_with("tg-"), "{gid}");
    assert_eq!(group["status"], "pending");
    assert_eq!(group["current_replicas"], 2);
    assert!(group["estimated_gpu_memory_mb"].as_u64().unwrap() > 14_000);
    let tasks = created["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(tasks[0]["id"]
        .as_str()
        .unwrap()
        .ends_with(&format!("-r0-{gid}")));
    assert!(created["model_route"]["id"]
        .as_str()
        .unwrap()
        .starts_with("mr-"));
    assert_eq!(created["model_route"]["model_name"], "qwen-chat");
    assert!(created["endpoint"]["id"]
        .as_str()
        .unwrap()
        .starts_with("ep-"));
    let key = created["api_key"].as_str().unwrap();
    assert!(key.starts_with("sk-") && key.len() == 39, "{key}");
    assert!(
        !created["endpoint"].to_string().contains(&key[3..]),
        "the endpoint never shows the key"
    );
    let found = api
        .store
        .endpoint_by_key(&gonka_core::deploy::model::hash_api_key(key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.task_group_id, gid);
    assert_eq!(
        api.store.audit_log(1).await.unwrap()[0].action,
        "task_group.create"
    );

    // The same name again: 409, nothing created.
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/task-groups",
            Some(json!({"name": "qwen-chat", "estimated_gpu_memory_mb": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(api.store.groups().await.unwrap().len(), 1);

    // Illegal moves answer 409 naming both states.
    let t0 = tasks[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .call("POST", &format!("/api/v1/tasks/{t0}/wake"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("pending → waking"),
        "{body}"
    );
    let (status, _) = api
        .call("POST", &format!("/api/v1/tasks/{t0}/jump"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Scale within bounds; out of bounds is a 400 on replicas.
    let (status, body) = api
        .call(
            "PUT",
            &format!("/api/v1/task-groups/{gid}/scale"),
            Some(json!({"replicas": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, listed) = api
        .call(
            "GET",
            &format!("/api/v1/tasks?group={gid}&status=pending"),
            None,
        )
        .await;
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 3);
    let (status, body) = api
        .call(
            "PUT",
            &format!("/api/v1/task-groups/{gid}/scale"),
            Some(json!({"replicas": 9})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&body), ["replicas"]);
    let (status, body) = api.call("GET", "/api/v1/tasks?status=dancing", None).await;
    assert_eq!(
        (status, fields(&body)),
        (StatusCode::BAD_REQUEST, vec!["status".to_string()])
    );

    // Policy and window.
    let (status, body) = api
        .call("PUT", &format!("/api/v1/task-groups/{gid}/scale-policy"),
              Some(json!({"auto_scale": true, "scale_policy": {"metric": "request_queue", "target": 4.0, "cooldown_seconds": 45}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["task_group"]["scale_policy"]["metric"],
        "request_queue"
    );
    let (status, body) = api
        .call(
            "PUT",
            &format!("/api/v1/task-groups/{gid}/scale-policy"),
            Some(json!({"scale_policy": {"cooldown_seconds": 5}})),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (
            StatusCode::BAD_REQUEST,
            vec!["scale_policy.cooldown_seconds".to_string()]
        )
    );
    let (status, _) = api
        .call(
            "PUT",
            &format!("/api/v1/task-groups/{gid}/schedule-window"),
            Some(json!({"start": "22:00", "end": "06:00"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Model routes: a canary beside v1, weight 150 refused, unknown group refused.
    let (status, canary) = api
        .call("POST", "/api/v1/model-routes",
              Some(json!({"model_name": "qwen-chat", "task_group_id": gid, "weight": 20, "version": "canary"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{canary}");
    let rid = canary["model_route"]["id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .call(
            "PUT",
            &format!("/api/v1/model-routes/{rid}"),
            Some(json!({"model_name": "qwen-chat", "task_group_id": gid, "weight": 150})),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (StatusCode::BAD_REQUEST, vec!["weight".to_string()])
    );
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/model-routes",
            Some(json!({"model_name": "x", "task_group_id": "tg-1-0000"})),
        )
        .await;
    assert_eq!(
        (status, fields(&body)),
        (StatusCode::BAD_REQUEST, vec!["task_group_id".to_string()])
    );
    let (_, routes) = api.call("GET", "/api/v1/model-routes", None).await;
    assert_eq!(routes["model_routes"].as_array().unwrap().len(), 2);
    let (status, _) = api
        .call("DELETE", &format!("/api/v1/model-routes/{rid}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .call("GET", &format!("/api/v1/model-routes/{rid}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A live group cannot be deleted; stopping every task completes it, then it can.
    let (status, body) = api
        .call("DELETE", &format!("/api/v1/task-groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"].as_str().unwrap().contains("pending"),
        "{body}"
    );
    let (_, all) = api
        .call("GET", &format!("/api/v1/task-groups/{gid}"), None)
        .await;
    for t in all["tasks"].as_array().unwrap() {
        if t["status"] != "completed" {
            let (status, body) = api
                .call(
                    "POST",
                    &format!("/api/v1/tasks/{}/stop", t["id"].as_str().unwrap()),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }
    let (_, group) = api
        .call("GET", &format!("/api/v1/task-groups/{gid}"), None)
        .await;
    assert_eq!(group["task_group"]["status"], "completed");
    let (status, _) = api
        .call("DELETE", &format!("/api/v1/task-groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .call("GET", &format!("/api/v1/task-groups/{gid}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deployments_api_on_the_memory_store() {
    lifecycle(Arc::new(MemoryDeploymentStore::new())).await;
}

#[tokio::test]
async fn deployments_api_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteDeploymentStore::open_path(dir.path().join("deploy.db"))
        .await
        .unwrap();
    lifecycle(Arc::new(store)).await;
}

#[tokio::test]
async fn bad_specs_are_refused_field_by_field_and_nothing_is_created() {
    let api = Api::start(Arc::new(MemoryDeploymentStore::new()), None).await;
    let cases = [
        (
            json!({"name": "a", "gpu_type": "VoodooFX", "estimated_gpu_memory_mb": 1000}),
            "gpu_type",
        ),
        (
            json!({"name": "b", "route": {"weight": 150}, "estimated_gpu_memory_mb": 1000}),
            "route.weight",
        ),
        (
            json!({"name": "c", "min_replicas": 3, "max_replicas": 2, "replicas": 3, "estimated_gpu_memory_mb": 1000}),
            "min_replicas",
        ),
        // Fits on no GPU of the fleet (2 × 80 GB), even empty.
        (
            json!({"name": "d", "model_path": "Qwen/Qwen3-235B-A22B-Instruct"}),
            "estimated_gpu_memory_mb",
        ),
        // A GPU type the fleet does not have.
        (
            json!({"name": "e", "gpu_type": "MI300X", "estimated_gpu_memory_mb": 1000}),
            "gpu_type",
        ),
        // No size in the name and no estimate.
        (json!({"name": "mystery-model"}), "estimated_gpu_memory_mb"),
    ];
    for (body, field) in cases {
        let (status, answer) = api
            .call("POST", "/api/v1/task-groups", Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        assert!(
            fields(&answer).iter().any(|f| f == field),
            "{body} → {answer}"
        );
    }
    let (status, answer) = api
        .call(
            "POST",
            "/api/v1/task-groups",
            Some(json!({"name": "f", "gpus": 2})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().unwrap().contains("gpus"),
        "{answer}"
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/task-groups", api.base))
        .body("{\"name\": \"x\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(api.store.groups().await.unwrap().is_empty());
    assert!(api.store.routes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_typed_client_drives_every_deployment_call() {
    use gonka_admin::client::{TaskAction, TaskQuery};
    use gonka_admin::{Client, ClientError};
    use gonka_core::deploy::spec::ScheduleWindow;
    use gonka_core::deploy::{GroupStatus, TaskStatus};

    let api = Api::start(Arc::new(MemoryDeploymentStore::new()), Some("t0ken")).await;
    let client = Client::new(&api.base).with_token("t0ken");
    let created = client
        .create_task_group_json(
            &json!({"name": "svc", "estimated_gpu_memory_mb": 20_000, "max_replicas": 3}),
        )
        .await
        .unwrap();
    let gid = created.task_group.id.clone();
    assert!(created.api_key.unwrap().starts_with("sk-"));
    assert_eq!(created.endpoint.unwrap().task_group_id, gid);
    assert_eq!(client.task_groups().await.unwrap().len(), 1);
    let detail = client.task_group(&gid).await.unwrap();
    assert_eq!(detail.tasks.len(), 1);
    let scaled = client.scale_task_group(&gid, 2).await.unwrap();
    assert_eq!(scaled.current_replicas, 2);
    match client.scale_task_group(&gid, 5).await {
        Err(ClientError::Invalid { errors, .. }) => assert_eq!(errors[0].field, "replicas"),
        other => panic!("{other:?}"),
    }
    let policy = client
        .set_scale_policy(&gid, &json!({"auto_scale": true}))
        .await
        .unwrap();
    assert!(policy.spec.auto_scale);
    let window = ScheduleWindow {
        start: "08:00".into(),
        end: "20:00".into(),
    };
    let windowed = client
        .set_schedule_window(&gid, Some(&window))
        .await
        .unwrap();
    assert_eq!(windowed.spec.schedule_window, Some(window));
    let tasks = client
        .tasks(&TaskQuery {
            group: Some(gid.clone()),
            status: Some(TaskStatus::Pending),
            ..TaskQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(client.task(&tasks[0].id).await.unwrap(), tasks[0]);
    match client.task_action(&tasks[0].id, TaskAction::Sleep).await {
        Err(ClientError::Conflict { message }) => {
            assert!(message.contains("pending → sleeping"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    let route = client
        .create_model_route(
            &json!({"model_name": "svc", "task_group_id": gid, "weight": 20, "version": "canary"}),
        )
        .await
        .unwrap();
    assert_eq!(client.model_route(&route.id).await.unwrap(), route);
    let moved = client
        .put_model_route(&route.id, &json!({"model_name": "svc", "task_group_id": gid, "weight": 50, "version": "canary", "status": "inactive"}))
        .await
        .unwrap();
    assert_eq!((moved.spec.weight, moved.active), (50, false));
    assert_eq!(client.model_routes().await.unwrap().len(), 2);
    client.delete_model_route(&route.id).await.unwrap();
    assert!(matches!(
        client.model_route(&route.id).await,
        Err(ClientError::NotFound { .. })
    ));
    assert!(matches!(
        client.delete_task_group(&gid).await,
        Err(ClientError::Conflict { .. })
    ));
    for t in client.task_group(&gid).await.unwrap().tasks {
        client.task_action(&t.id, TaskAction::Stop).await.unwrap();
    }
    assert_eq!(
        client.task_group(&gid).await.unwrap().task_group.status,
        GroupStatus::Completed
    );
    client.delete_task_group(&gid).await.unwrap();
    assert!(client.task_groups().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_typed_spec_creates_a_group_and_a_bad_one_names_its_fields() {
    use gonka_admin::{Client, ClientError};
    use gonka_core::deploy::TaskGroupSpec;

    let api = Api::start(Arc::new(MemoryDeploymentStore::new()), None).await;
    let client = Client::new(&api.base);
    let spec = TaskGroupSpec {
        estimated_gpu_memory_mb: Some(20_000),
        replicas: 2,
        max_replicas: 3,
        create_endpoint: false,
        ..TaskGroupSpec::new("svc-typed")
    };
    let created = client.create_task_group(&spec).await.unwrap();
    assert_eq!(created.task_group.spec, spec);
    assert_eq!(created.tasks.len(), 2);
    assert_eq!(created.model_route.model_name, "svc-typed");
    assert_eq!(created.model_route.task_group_id, created.task_group.id);
    assert!(created.endpoint.is_none() && created.api_key.is_none());
    let groups = client.task_groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].id, created.task_group.id);

    let bad = TaskGroupSpec {
        gpu_type: Some("VoodooFX".into()),
        min_replicas: 3,
        max_replicas: 2,
        ..TaskGroupSpec::new("svc-bad")
    };
    match client.create_task_group(&bad).await {
        Err(ClientError::Invalid { errors, .. }) => {
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert!(fields.contains(&"gpu_type"), "{fields:?}");
            assert!(
                fields.contains(&"min_replicas") || fields.contains(&"max_replicas"),
                "{fields:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(client.task_groups().await.unwrap().len(), 1);
}

#[tokio::test]
async fn updates_over_http_are_recorded_once_and_bad_ones_name_the_field() {
    let store: Arc<dyn DeploymentStore> = Arc::new(MemoryDeploymentStore::new());
    let api = Api::start(store, Some("t0ken")).await;
    let (status, created) = api
        .call(
            "POST",
            "/api/v1/task-groups",
            Some(json!({"name": "upd", "model_path": "org/v1", "estimated_gpu_memory_mb": 1000})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let gid = created["task_group"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/task-groups/{gid}/update");

    // Bad input: 400 naming each field; unknown fields and strategies too; nothing changes.
    let (status, body) = api
        .call(
            "PUT",
            &path,
            Some(json!({"engine": "warp", "context_length": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(fields(&body), ["engine", "context_length"]);
    for bad in [
        json!({"name": "other"}),
        json!({"model_path": "org/v2", "strategy": "blue_green"}),
    ] {
        let (status, body) = api.call("PUT", &path, Some(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = api.call("PUT", &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(fields(&body), ["body"]);
    assert_eq!(api.store.group(&gid).await.unwrap().generation, 1);

    // Recorded: 202, generation + 1, rolling, the previous spec kept for a rollback.
    let (status, body) = api
        .call(
            "PUT",
            &path,
            Some(json!({"model_path": "org/v2", "version": "v2", "strategy": "recreate"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let g = &body["task_group"];
    assert_eq!(g["generation"], 2);
    assert_eq!(g["rolling_update_state"], "rolling");
    assert_eq!(g["model_path"], "org/v2");
    assert_eq!(g["update"]["strategy"], "recreate");
    assert_eq!(g["update"]["previous"]["model_path"], "org/v1");
    assert_eq!(
        api.store.audit_log(1).await.unwrap()[0].action,
        "task_group.update"
    );
    // A second one while it runs: 409; an unknown group: 404.
    let (status, body) = api
        .call("PUT", &path, Some(json!({"model_path": "org/v3"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = api
        .call(
            "PUT",
            "/api/v1/task-groups/tg-0-0000/update",
            Some(json!({"model_path": "org/v3"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
