//! Engine instances the ML node runs for deployment tasks (`/api/v1/tasks`): besides the one
//! model of the Gonka network's inference up/down, an agent runs any number of engine
//! instances, each bound to its GPUs and port and serving one model under its task group's
//! name. The gateway's placement loop launches them; the agent's inference proxy routes a
//! request to the instance serving its `model`.
//!
//! ```
//! use gonka_core::mlnode_api::{TaskInstance, TaskLaunch, TaskState};
//!
//! let launch: TaskLaunch = serde_json::from_str(
//!     r#"{"model": "qwen-chat", "model_path": "Qwen/Qwen3-0.6B", "engine": "vllm",
//!         "gpu_ids": ["0", "1"], "port": 8100}"#,
//! ).unwrap();
//! assert_eq!(launch.gpu_ids.join(","), "0,1"); // CUDA_VISIBLE_DEVICES=0,1
//! let instance = TaskInstance::starting("task-1a2b-r0-tg-1-abcd", &launch, 0);
//! assert_eq!(instance.state, TaskState::Starting);
//! ```

use serde::{Deserialize, Serialize};

/// `PUT /api/v1/tasks/{task_id}`: start (or keep) an engine instance for a task. Idempotent: a
/// second PUT with the same launch answers the instance as it is; a different launch for a
/// running task id is a 409.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskLaunch {
    /// The name clients send as `model` (the task group's name); the engine serves the weights
    /// under it.
    pub model: String,
    /// The weights: a Hugging Face repo id or a local path (GGUF file for llama.cpp).
    pub model_path: String,
    /// The engine placement chose: `vllm`, `sglang`, `llamacpp`, `simulator`, `mindie`,
    /// `vllm-mtt`; an agent answers 400 for an engine it cannot run.
    pub engine: String,
    /// The node's GPU ids the instance is bound to (`CUDA_VISIBLE_DEVICES` and the vendors'
    /// equivalents); empty on a host without GPUs.
    pub gpu_ids: Vec<String>,
    /// The port the engine listens on, on the node.
    pub port: u16,
    /// Weight dtype (`auto` when empty).
    pub dtype: String,
    /// Context window in tokens (the engine's default when 0).
    pub max_model_len: u32,
    /// Tensor parallel size (1 when 0).
    pub tensor_parallel_size: u32,
    /// Extra engine arguments, appended as given.
    pub args: Vec<String>,
}

/// Where a task's engine instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Launched, not ready yet.
    #[default]
    Starting,
    /// Ready: takes requests.
    Running,
    /// Put to sleep (`POST .../sleep`): holds no GPU memory (vLLM's sleep mode) or no process.
    Sleeping,
    /// Waking (`POST .../wake`): ready again soon.
    Waking,
    /// Stopping (`DELETE`).
    Stopping,
    /// Exited and not restarting: see `error`.
    Failed,
}

impl TaskState {
    /// Whether the instance takes requests now.
    pub fn serves(self) -> bool {
        self == TaskState::Running
    }
}

/// How an instance sleeps: the engine's own sleep mode, or a stop and a fresh start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SleepMode {
    /// vLLM's `/sleep` and `/wake_up` (the weights leave GPU memory, the process stays).
    EngineSleep,
    /// The process is stopped and started again on wake.
    #[default]
    Restart,
}

/// One engine instance: `GET /api/v1/tasks/{task_id}` and the items of [`TaskList`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskInstance {
    /// The deployment task's id.
    pub task_id: String,
    /// The model name it serves.
    pub model: String,
    /// The engine.
    pub engine: String,
    /// The engine's port on the node.
    pub port: u16,
    /// The GPUs it is bound to.
    pub gpu_ids: Vec<String>,
    /// Where it is.
    pub state: TaskState,
    /// How it sleeps.
    pub sleep_mode: SleepMode,
    /// Why it failed (with `Failed`), or the last restart's cause.
    pub error: Option<String>,
    /// When it entered `state`, in Unix milliseconds.
    pub since_ms: u64,
    /// Requests proxied to it and not finished yet.
    pub in_flight: u32,
    /// When the last request to it ended (Unix milliseconds; 0 when none yet): what idle sleep
    /// counts from.
    pub last_request_ms: u64,
}

impl TaskInstance {
    /// A just launched instance of `launch` for `task_id`.
    pub fn starting(task_id: &str, launch: &TaskLaunch, now_ms: u64) -> Self {
        Self {
            task_id: task_id.to_owned(),
            model: launch.model.clone(),
            engine: launch.engine.clone(),
            port: launch.port,
            gpu_ids: launch.gpu_ids.clone(),
            state: TaskState::Starting,
            sleep_mode: if launch.engine == "vllm" {
                SleepMode::EngineSleep
            } else {
                SleepMode::Restart
            },
            error: None,
            since_ms: now_ms,
            in_flight: 0,
            last_request_ms: 0,
        }
    }
}

/// `GET /api/v1/tasks`: `{"tasks": [...]}`, by task id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskList {
    /// Every instance the agent holds (stopped ones are gone).
    pub tasks: Vec<TaskInstance>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_and_an_instance_round_trip() {
        let launch = TaskLaunch {
            model: "m".into(),
            model_path: "org/m".into(),
            engine: "simulator".into(),
            gpu_ids: vec!["0".into()],
            port: 8100,
            ..TaskLaunch::default()
        };
        let back: TaskLaunch =
            serde_json::from_str(&serde_json::to_string(&launch).unwrap()).unwrap();
        assert_eq!(back, launch);
        let i = TaskInstance::starting("t", &launch, 5);
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["state"], "starting");
        assert_eq!(v["sleep_mode"], "restart");
        let back: TaskInstance = serde_json::from_value(v).unwrap();
        assert_eq!(back, i);
    }

    #[test]
    fn vllm_sleeps_in_the_engine() {
        let launch = TaskLaunch {
            engine: "vllm".into(),
            ..TaskLaunch::default()
        };
        assert_eq!(
            TaskInstance::starting("t", &launch, 0).sleep_mode,
            SleepMode::EngineSleep
        );
        assert!(TaskState::Running.serves());
        assert!(!TaskState::Sleeping.serves());
    }
}
