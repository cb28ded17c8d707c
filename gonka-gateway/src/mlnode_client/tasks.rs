//! The ML node's task API (`/api/v1/tasks`): the engine instances of deployment tasks, one
//! method per call ([`gonka_core::mlnode_api::TaskLaunch`] and its neighbours are the wire
//! contract).

use gonka_core::mlnode_api::{paths, TaskInstance, TaskLaunch, TaskList};
use reqwest::Method;

use super::{finish, MlNodeClient, MlNodeError};

/// `path` with `{task_id}` replaced by `task_id`, percent-encoded as one path segment.
fn task_path(path: &str, task_id: &str) -> String {
    let mut segment = String::with_capacity(task_id.len());
    for b in task_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            segment.push(char::from(b));
        } else {
            segment.push_str(&format!("%{b:02X}"));
        }
    }
    path.replace("{task_id}", &segment)
}

impl MlNodeClient {
    /// `PUT /api/v1/tasks/{task_id}`: starts (or keeps: the call is idempotent) the engine
    /// instance of `task_id`; the node answers `202` with the instance (`starting` at first).
    ///
    /// # Errors
    /// `Status` 400 for an engine or launch the node cannot run, 409 when the task id runs a
    /// different launch, 404 when the node has no task API; see [`MlNodeError`].
    pub async fn launch_task(
        &self,
        task_id: &str,
        launch: &TaskLaunch,
    ) -> Result<TaskInstance, MlNodeError> {
        let (url, rb) = self.request(Method::PUT, &task_path(paths::TASK, task_id));
        let (status, text) = self.send("PUT", &url, rb.json(launch)).await?;
        finish("PUT", url, status, &text)
    }

    /// `GET /api/v1/tasks/{task_id}`: one instance.
    ///
    /// # Errors
    /// `Status` 404 ([`MlNodeError::is_not_found`]) when the node holds no instance of it; see
    /// [`MlNodeError`].
    pub async fn task(&self, task_id: &str) -> Result<TaskInstance, MlNodeError> {
        self.get(&task_path(paths::TASK, task_id)).await
    }

    /// `GET /api/v1/tasks`: every instance the node holds.
    ///
    /// # Errors
    /// `Status` 404 when the node has no task API (an older agent, an upstream ML node); see
    /// [`MlNodeError`].
    pub async fn tasks(&self) -> Result<Vec<TaskInstance>, MlNodeError> {
        let list: TaskList = self.get(paths::TASKS).await?;
        Ok(list.tasks)
    }

    /// `DELETE /api/v1/tasks/{task_id}`: stops the instance and forgets it. The node answers
    /// success for an unknown id too, so a repeated stop is harmless; the body is not read.
    ///
    /// # Errors
    /// See [`MlNodeError`].
    pub async fn stop_task(&self, task_id: &str) -> Result<(), MlNodeError> {
        let (url, rb) = self.request(Method::DELETE, &task_path(paths::TASK, task_id));
        let (status, text) = self.send("DELETE", &url, rb).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(MlNodeError::status("DELETE", url, status, &text))
        }
    }

    /// `POST /api/v1/tasks/{task_id}/sleep`: puts the instance to sleep (`202`, the instance).
    ///
    /// # Errors
    /// `Status` 404 for an unknown task, 409 when its state cannot sleep; see [`MlNodeError`].
    pub async fn sleep_task(&self, task_id: &str) -> Result<TaskInstance, MlNodeError> {
        self.post(
            &task_path(paths::TASK_SLEEP, task_id),
            &serde_json::json!({}),
        )
        .await
    }

    /// `POST /api/v1/tasks/{task_id}/wake`: wakes the instance (`202`, the instance).
    ///
    /// # Errors
    /// `Status` 404 for an unknown task, 409 when its state cannot wake; see [`MlNodeError`].
    pub async fn wake_task(&self, task_id: &str) -> Result<TaskInstance, MlNodeError> {
        self.post(
            &task_path(paths::TASK_WAKE, task_id),
            &serde_json::json!({}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::task_path;

    #[test]
    fn task_ids_are_one_encoded_segment() {
        assert_eq!(
            task_path("/api/v1/tasks/{task_id}/sleep", "task-1a-r0-tg-1-ab"),
            "/api/v1/tasks/task-1a-r0-tg-1-ab/sleep"
        );
        assert_eq!(
            task_path("/api/v1/tasks/{task_id}", "a/b c"),
            "/api/v1/tasks/a%2Fb%20c"
        );
    }
}
