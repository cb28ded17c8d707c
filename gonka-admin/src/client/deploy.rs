//! Typed client methods of the deployments API (`/api/v1`).

use gonka_core::deploy::spec::ScheduleWindow;
use gonka_core::deploy::{ModelRoute, Task, TaskGroup, TaskGroupSpec, TaskStatus, UpdateRequest};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{encode_segment, send, Client, ClientError};

/// The endpoint of a new group, as shown (its key only by prefix).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EndpointView {
    /// `ep-{hex16}`.
    pub id: String,
    /// The group's name.
    pub name: String,
    /// Its group.
    pub task_group_id: String,
    /// `http`.
    pub protocol: String,
    /// Load-balancing algorithm.
    pub algorithm: String,
    /// The key's first characters.
    pub api_key_prefix: String,
}

/// The answer of [`Client::create_task_group`].
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedTaskGroup {
    /// The group.
    pub task_group: TaskGroup,
    /// Its tasks.
    pub tasks: Vec<Task>,
    /// Its model route.
    pub model_route: ModelRoute,
    /// Its endpoint, when one was asked for.
    pub endpoint: Option<EndpointView>,
    /// The endpoint's API key: shown this once, stored only as a hash.
    pub api_key: Option<String>,
}

/// A group with its tasks ([`Client::task_group`]).
#[derive(Debug, Clone, Deserialize)]
pub struct TaskGroupDetail {
    /// The group.
    pub task_group: TaskGroup,
    /// Its tasks, by id.
    pub tasks: Vec<Task>,
}

/// Which tasks [`Client::tasks`] lists (`None` = any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskQuery {
    /// Of this group.
    pub group: Option<String>,
    /// On this node.
    pub node: Option<String>,
    /// In this status.
    pub status: Option<TaskStatus>,
}

/// A move an operator asks of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    /// running → sleeping.
    Sleep,
    /// sleeping → waking.
    Wake,
    /// any live state → completed.
    Stop,
    /// failed → pending.
    Retry,
}

impl TaskAction {
    fn path(self) -> &'static str {
        match self {
            TaskAction::Sleep => "sleep",
            TaskAction::Wake => "wake",
            TaskAction::Stop => "stop",
            TaskAction::Retry => "retry",
        }
    }
}

#[derive(Deserialize)]
struct Groups {
    task_groups: Vec<TaskGroup>,
}

#[derive(Deserialize)]
struct OneGroup {
    task_group: TaskGroup,
}

#[derive(Deserialize)]
struct Tasks {
    tasks: Vec<Task>,
}

#[derive(Deserialize)]
struct OneTask {
    task: Task,
    #[serde(default)]
    health: Option<gonka_core::deploy::TaskHealth>,
}

#[derive(Deserialize)]
struct RouteView {
    #[serde(flatten)]
    route: ModelRoute,
    #[allow(dead_code)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct Routes {
    model_routes: Vec<RouteView>,
}

#[derive(Deserialize)]
struct OneRoute {
    model_route: RouteView,
}

#[derive(Deserialize)]
struct Deleted {
    #[allow(dead_code)]
    deleted: String,
}

fn seg(id: &str) -> String {
    encode_segment(id)
}

impl Client {
    /// `POST /api/v1/task-groups`.
    ///
    /// # Errors
    /// `Invalid` naming each bad field (nothing created); `Conflict` when the name is taken.
    pub async fn create_task_group(
        &self,
        spec: &TaskGroupSpec,
    ) -> Result<CreatedTaskGroup, ClientError> {
        send(self.request(Method::POST, "/api/v1/task-groups").json(spec)).await
    }

    /// `POST /api/v1/task-groups` with a raw JSON body (fields left out take their defaults).
    ///
    /// # Errors
    /// As [`create_task_group`](Self::create_task_group).
    pub async fn create_task_group_json(
        &self,
        spec: &Value,
    ) -> Result<CreatedTaskGroup, ClientError> {
        send(self.request(Method::POST, "/api/v1/task-groups").json(spec)).await
    }

    /// `GET /api/v1/task-groups`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn task_groups(&self) -> Result<Vec<TaskGroup>, ClientError> {
        let g: Groups = send(self.request(Method::GET, "/api/v1/task-groups")).await?;
        Ok(g.task_groups)
    }

    /// `GET /api/v1/task-groups/{id}`: the group with its tasks.
    ///
    /// # Errors
    /// `NotFound`; see [`ClientError`].
    pub async fn task_group(&self, id: &str) -> Result<TaskGroupDetail, ClientError> {
        send(self.request(Method::GET, &format!("/api/v1/task-groups/{}", seg(id)))).await
    }

    /// `DELETE /api/v1/task-groups/{id}`.
    ///
    /// # Errors
    /// `Conflict` unless the group is completed or failed; `NotFound`.
    pub async fn delete_task_group(&self, id: &str) -> Result<(), ClientError> {
        let _: Deleted =
            send(self.request(Method::DELETE, &format!("/api/v1/task-groups/{}", seg(id)))).await?;
        Ok(())
    }

    /// `PUT /api/v1/task-groups/{id}/scale`.
    ///
    /// # Errors
    /// `Invalid` (field `replicas`) outside min/max; `Conflict` for a finished group.
    pub async fn scale_task_group(
        &self,
        id: &str,
        replicas: u32,
    ) -> Result<TaskGroup, ClientError> {
        let path = format!("/api/v1/task-groups/{}/scale", seg(id));
        let g: OneGroup = send(
            self.request(Method::PUT, &path)
                .json(&json!({ "replicas": replicas })),
        )
        .await?;
        Ok(g.task_group)
    }

    /// `PUT /api/v1/task-groups/{id}/scale-policy` with any of `auto_scale`, `min_replicas`,
    /// `max_replicas`, `scale_policy`.
    ///
    /// # Errors
    /// `Invalid` naming the bad field.
    pub async fn set_scale_policy(
        &self,
        id: &str,
        change: &Value,
    ) -> Result<TaskGroup, ClientError> {
        let path = format!("/api/v1/task-groups/{}/scale-policy", seg(id));
        let g: OneGroup = send(self.request(Method::PUT, &path).json(change)).await?;
        Ok(g.task_group)
    }

    /// `PUT /api/v1/task-groups/{id}/update`: records a new version of the group (the gateway's
    /// task driver replaces its tasks); the group with `rolling_update_state: rolling`.
    ///
    /// # Errors
    /// `Invalid` naming each bad field (nothing changed); `Conflict` while another update runs
    /// or for a completed or failed group; `NotFound`.
    pub async fn update_task_group(
        &self,
        id: &str,
        update: &UpdateRequest,
    ) -> Result<TaskGroup, ClientError> {
        let path = format!("/api/v1/task-groups/{}/update", seg(id));
        let g: OneGroup = send(self.request(Method::PUT, &path).json(update)).await?;
        Ok(g.task_group)
    }

    /// `PUT /api/v1/task-groups/{id}/schedule-window` (`None`: always).
    ///
    /// # Errors
    /// `Invalid` naming a malformed time.
    pub async fn set_schedule_window(
        &self,
        id: &str,
        window: Option<&ScheduleWindow>,
    ) -> Result<TaskGroup, ClientError> {
        let path = format!("/api/v1/task-groups/{}/schedule-window", seg(id));
        let g: OneGroup = send(self.request(Method::PUT, &path).json(&window)).await?;
        Ok(g.task_group)
    }

    /// `GET /api/v1/tasks` with filters.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn tasks(&self, query: &TaskQuery) -> Result<Vec<Task>, ClientError> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(g) = &query.group {
            params.push(("group", g.clone()));
        }
        if let Some(n) = &query.node {
            params.push(("node", n.clone()));
        }
        if let Some(s) = query.status {
            params.push(("status", s.as_str().to_owned()));
        }
        let t: Tasks = send(self.request(Method::GET, "/api/v1/tasks").query(&params)).await?;
        Ok(t.tasks)
    }

    /// `GET /api/v1/tasks/{id}`.
    ///
    /// # Errors
    /// `NotFound`; see [`ClientError`].
    pub async fn task(&self, id: &str) -> Result<Task, ClientError> {
        let t: OneTask =
            send(self.request(Method::GET, &format!("/api/v1/tasks/{}", seg(id)))).await?;
        Ok(t.task)
    }

    /// `GET /api/v1/tasks/{id}`: the task and its health as the server's continuous health
    /// checks see it (`None` before its first check, or from a server without them).
    ///
    /// # Errors
    /// `NotFound` for an unknown id.
    pub async fn task_with_health(
        &self,
        id: &str,
    ) -> Result<(Task, Option<gonka_core::deploy::TaskHealth>), ClientError> {
        let t: OneTask =
            send(self.request(Method::GET, &format!("/api/v1/tasks/{}", seg(id)))).await?;
        Ok((t.task, t.health))
    }

    /// `POST /api/v1/tasks/{id}/{sleep|wake|stop|retry}`: the task after the move.
    ///
    /// # Errors
    /// `Conflict` naming both states when the move is illegal.
    pub async fn task_action(&self, id: &str, action: TaskAction) -> Result<Task, ClientError> {
        let path = format!("/api/v1/tasks/{}/{}", seg(id), action.path());
        let t: OneTask = send(self.request(Method::POST, &path)).await?;
        Ok(t.task)
    }

    /// `GET /api/v1/model-routes`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn model_routes(&self) -> Result<Vec<ModelRoute>, ClientError> {
        let r: Routes = send(self.request(Method::GET, "/api/v1/model-routes")).await?;
        Ok(r.model_routes.into_iter().map(|v| v.route).collect())
    }

    /// `GET /api/v1/model-routes/{id}`.
    ///
    /// # Errors
    /// `NotFound`; see [`ClientError`].
    pub async fn model_route(&self, id: &str) -> Result<ModelRoute, ClientError> {
        let path = format!("/api/v1/model-routes/{}", seg(id));
        let r: OneRoute = send(self.request(Method::GET, &path)).await?;
        Ok(r.model_route.route)
    }

    /// `POST /api/v1/model-routes` with `{model_name, task_group_id, engine?, priority?, weight?,
    /// version?, algorithm?, status?}`.
    ///
    /// # Errors
    /// `Invalid` naming the bad field (e.g. `weight` above 100, an unknown `task_group_id`).
    pub async fn create_model_route(&self, route: &Value) -> Result<ModelRoute, ClientError> {
        let r: OneRoute = send(
            self.request(Method::POST, "/api/v1/model-routes")
                .json(route),
        )
        .await?;
        Ok(r.model_route.route)
    }

    /// `PUT /api/v1/model-routes/{id}`: replaces the route (e.g. new weights, live).
    ///
    /// # Errors
    /// As [`create_model_route`](Self::create_model_route); `NotFound`.
    pub async fn put_model_route(
        &self,
        id: &str,
        route: &Value,
    ) -> Result<ModelRoute, ClientError> {
        let path = format!("/api/v1/model-routes/{}", seg(id));
        let r: OneRoute = send(self.request(Method::PUT, &path).json(route)).await?;
        Ok(r.model_route.route)
    }

    /// `DELETE /api/v1/model-routes/{id}`.
    ///
    /// # Errors
    /// `NotFound`; see [`ClientError`].
    pub async fn delete_model_route(&self, id: &str) -> Result<(), ClientError> {
        let path = format!("/api/v1/model-routes/{}", seg(id));
        let _: Deleted = send(self.request(Method::DELETE, &path)).await?;
        Ok(())
    }
}
