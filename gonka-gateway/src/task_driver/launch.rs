//! The [`TaskLaunch`] of a placed task, from the task's placement and its group's spec.

use gonka_core::deploy::{Parallelism, Task, TaskGroup};
use gonka_core::mlnode_api::TaskLaunch;

/// What the ML node is asked to start for `task` of `group`: the group's name as the model
/// clients send, the task's weights and engine, its GPUs and port (as placed), the group's dtype,
/// context length (`max_model_len`) and engine arguments, and for tensor parallelism the task's
/// GPU count as the tensor parallel size. `None` while the task is not placed.
pub fn task_launch(task: &Task, group: &TaskGroup) -> Option<TaskLaunch> {
    let port = *task.ports.first()?;
    let engine = task.engine.clone().or_else(|| group.spec.engine.clone())?;
    let gpu_ids: Vec<String> = task
        .gpu_id
        .as_deref()
        .map(|ids| {
            ids.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let tensor_parallel_size = match group.spec.parallelism {
        Parallelism::TensorParallel => task.gpu_required.max(1),
        _ => 1,
    };
    Some(TaskLaunch {
        model: group.spec.name.clone(),
        model_path: task.model_path.clone(),
        engine,
        gpu_ids,
        port,
        dtype: group.spec.dtype.clone().unwrap_or_default(),
        max_model_len: group.spec.context_length,
        tensor_parallel_size,
        args: group.spec.engine_args.clone(),
    })
}
