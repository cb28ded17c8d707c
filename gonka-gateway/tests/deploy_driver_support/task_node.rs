//! `TaskNodeStandIn`: an in-test stand-in for the ML node agent's task API (`/api/v1/tasks`,
//! the contract of `gonka_core::mlnode_api::tasks`), used only until gonka-mlnode serves that
//! API; then `start_task_node` starts the real agent instead (the one line to change).
//!
//! It keeps instances in memory: a launch starts `starting` and is `running` at the next look
//! (a launch whose `model_path` contains `broken` fails with an engine error instead); sleep and
//! wake switch states; `DELETE` forgets. Tests set what real traffic would (`in_flight`,
//! `last_request_ms`, a request waking a sleeping instance). It also answers each instance's
//! health check at `/instances/{port}{path}`: 200, or 503 when its `model_path` contains
//! `unhealthy`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use gonka_core::mlnode_api::{TaskInstance, TaskLaunch, TaskList, TaskState};
use serde_json::json;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[derive(Default)]
struct Inner {
    instances: BTreeMap<String, (TaskLaunch, TaskInstance)>,
    launches: Vec<(String, TaskLaunch)>,
    deletes: Vec<String>,
    sleeps: Vec<String>,
    wakes: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running stand-in; dropping it stops it.
pub struct TaskNodeStandIn {
    /// Its management base URL.
    pub url: String,
    inner: Shared,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The ML node the driver tests talk to. The stand-in until the agent serves `/api/v1/tasks`.
pub async fn start_task_node() -> TaskNodeStandIn {
    TaskNodeStandIn::start().await
}

async fn list(State(s): State<Shared>) -> Json<TaskList> {
    let mut inner = s.lock().unwrap();
    let now = now_ms();
    for (_, inst) in inner.instances.values_mut() {
        if inst.state == TaskState::Starting || inst.state == TaskState::Waking {
            inst.state = TaskState::Running;
            inst.since_ms = now;
        }
    }
    Json(TaskList {
        tasks: inner.instances.values().map(|(_, i)| i.clone()).collect(),
    })
}

async fn launch(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Json(launch): Json<TaskLaunch>,
) -> (StatusCode, Json<serde_json::Value>) {
    let mut inner = s.lock().unwrap();
    if let Some((existing, inst)) = inner.instances.get(&id) {
        if *existing != launch {
            return (
                StatusCode::CONFLICT,
                Json(json!({"error": format!("task {id} runs another launch")})),
            );
        }
        return (StatusCode::ACCEPTED, Json(json!(inst)));
    }
    if launch.engine == "mindie" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "engine mindie cannot run on this node"})),
        );
    }
    let mut inst = TaskInstance::starting(&id, &launch, now_ms());
    if launch.model_path.contains("broken") {
        inst.state = TaskState::Failed;
        inst.error = Some(format!(
            "engine exited with code 1 loading {}",
            launch.model_path
        ));
    }
    inner.launches.push((id.clone(), launch.clone()));
    inner.instances.insert(id, (launch, inst.clone()));
    (StatusCode::ACCEPTED, Json(json!(inst)))
}

async fn one(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> (StatusCode, Json<serde_json::Value>) {
    match s.lock().unwrap().instances.get(&id) {
        Some((_, i)) => (StatusCode::OK, Json(json!(i))),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no task {id}")})),
        ),
    }
}

async fn delete(State(s): State<Shared>, Path(id): Path<String>) -> Json<serde_json::Value> {
    let mut inner = s.lock().unwrap();
    inner.instances.remove(&id);
    inner.deletes.push(id);
    Json(json!({"status": "OK"}))
}

async fn act(s: &Shared, id: &str, to: TaskState) -> (StatusCode, Json<serde_json::Value>) {
    let mut inner = s.lock().unwrap();
    let Some((_, inst)) = inner.instances.get_mut(id) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no task {id}")})),
        );
    };
    if inst.state != to {
        inst.state = to;
        inst.since_ms = now_ms();
    }
    let out = inst.clone();
    if to == TaskState::Sleeping {
        inner.sleeps.push(id.to_owned());
    } else {
        inner.wakes.push(id.to_owned());
    }
    (StatusCode::ACCEPTED, Json(json!(out)))
}

async fn sleep(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> (StatusCode, Json<serde_json::Value>) {
    act(&s, &id, TaskState::Sleeping).await
}

async fn wake(
    State(s): State<Shared>,
    Path(id): Path<String>,
) -> (StatusCode, Json<serde_json::Value>) {
    act(&s, &id, TaskState::Waking).await
}

async fn health(State(s): State<Shared>, Path((port, _rest)): Path<(u16, String)>) -> StatusCode {
    let inner = s.lock().unwrap();
    match inner.instances.values().find(|(_, i)| i.port == port) {
        Some((l, i)) if i.state == TaskState::Running && !l.model_path.contains("unhealthy") => {
            StatusCode::OK
        }
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl TaskNodeStandIn {
    async fn start() -> Self {
        let inner: Shared = Arc::default();
        let app = Router::new()
            .route("/api/v1/tasks", get(list))
            .route("/api/v1/tasks/{id}", get(one).put(launch).delete(delete))
            .route("/api/v1/tasks/{id}/sleep", post(sleep))
            .route("/api/v1/tasks/{id}/wake", post(wake))
            .route("/instances/{port}/{*rest}", get(health))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url,
            inner,
            _stop: stop,
        }
    }

    /// The base URL the group's health check of the instance on `port` calls.
    pub fn instance_url(&self, port: u16) -> String {
        format!("{}/instances/{port}", self.url)
    }

    /// The instance of `task_id`, if held.
    pub fn instance(&self, task_id: &str) -> Option<TaskInstance> {
        self.inner
            .lock()
            .unwrap()
            .instances
            .get(task_id)
            .map(|(_, i)| i.clone())
    }

    /// Every instance held.
    pub fn instances(&self) -> Vec<TaskInstance> {
        self.inner
            .lock()
            .unwrap()
            .instances
            .values()
            .map(|(_, i)| i.clone())
            .collect()
    }

    /// Every launch received, in order.
    pub fn launches(&self) -> Vec<(String, TaskLaunch)> {
        self.inner.lock().unwrap().launches.clone()
    }

    /// Task ids deleted, in order.
    pub fn deletes(&self) -> Vec<String> {
        self.inner.lock().unwrap().deletes.clone()
    }

    /// Task ids put to sleep, in order.
    pub fn sleeps(&self) -> Vec<String> {
        self.inner.lock().unwrap().sleeps.clone()
    }

    /// Task ids woken by a wake call, in order.
    pub fn wakes(&self) -> Vec<String> {
        self.inner.lock().unwrap().wakes.clone()
    }

    /// Sets what traffic would: requests in flight on the instance and when the last ended.
    pub fn set_traffic(&self, task_id: &str, in_flight: u32, last_request_ms: u64) {
        if let Some((_, i)) = self.inner.lock().unwrap().instances.get_mut(task_id) {
            i.in_flight = in_flight;
            i.last_request_ms = last_request_ms;
        }
    }

    /// A request for the instance's model arrives while it sleeps: the agent wakes it and
    /// serves the request (running, the request ended at `at_ms`).
    pub fn request_wakes(&self, task_id: &str, at_ms: u64) {
        if let Some((_, i)) = self.inner.lock().unwrap().instances.get_mut(task_id) {
            i.state = TaskState::Running;
            i.since_ms = at_ms;
            i.last_request_ms = at_ms;
        }
    }
}
