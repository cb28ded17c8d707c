//! A task launch checked and turned into an engine launch: the field checks (400 naming the
//! field), the differences of two launches (409), the engine's [`LaunchSpec`] and the
//! environment that binds the instance to its GPUs.
//!
//! GPU binding: the instance's `gpu_ids` go into the visible-devices variable of the node's GPU
//! vendor ([`visible_devices_var`]): `CUDA_VISIBLE_DEVICES` on NVIDIA (vLLM, SGLang, llama.cpp
//! built for CUDA), `HIP_VISIBLE_DEVICES` on AMD and Hygon (ROCm/DTK builds),
//! `ASCEND_RT_VISIBLE_DEVICES` on Huawei Ascend, `MUSA_VISIBLE_DEVICES` on Moore Threads. The
//! vendor is [`crate::MlNodeConfig::task_gpu_vendor`] when set, else the vendor of the detected
//! GPUs, else NVIDIA. An instance without GPUs gets the variable set empty, so it sees none.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gonka_core::mlnode_api::TaskLaunch;
use gonka_core::LaunchSpec;
use serde_json::Value;

use crate::agent::AgentError;
use crate::engine::{check_args, EngineKind};

/// The longest task id accepted.
const MAX_TASK_ID: usize = 128;

/// Checks a task id from the path: 1 to 128 characters of `A-Z a-z 0-9 . _ -`.
pub(crate) fn check_task_id(task_id: &str) -> Result<(), AgentError> {
    let ok = !task_id.is_empty()
        && task_id.len() <= MAX_TASK_ID
        && task_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AgentError::Invalid(format!(
            "task_id {task_id:?} is not valid (1 to {MAX_TASK_ID} characters of A-Z, a-z, 0-9, '.', '_', '-')"
        )))
    }
}

/// Decodes a launch body, naming the field whose value has the wrong type.
pub(crate) fn decode(body: &[u8]) -> Result<TaskLaunch, AgentError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AgentError::Invalid(format!("the body is not JSON: {e}")))?;
    let Value::Object(fields) = &value else {
        return Err(AgentError::Invalid(
            "the body must be a JSON object (a task launch)".into(),
        ));
    };
    for (name, v) in fields {
        let one = serde_json::json!({ name: v });
        if let Err(e) = serde_json::from_value::<TaskLaunch>(one) {
            return Err(AgentError::Invalid(format!("field {name}: {e}")));
        }
    }
    serde_json::from_value(value).map_err(|e| AgentError::Invalid(format!("invalid launch: {e}")))
}

/// Checks a launch and returns its engine. The message of each error names the field.
pub(crate) fn check(launch: &TaskLaunch) -> Result<EngineKind, AgentError> {
    let invalid = |m: String| Err(AgentError::Invalid(m));
    let model = launch.model.trim();
    if model.is_empty() {
        return invalid("model is required and cannot be empty".into());
    }
    if model.len() > 512
        || launch
            .model
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return invalid(format!(
            "model {:?} is not a valid model name (no whitespace, at most 512 characters)",
            launch.model
        ));
    }
    let kind = match launch.engine.parse::<EngineKind>() {
        Ok(kind) => kind,
        Err(_) => {
            return invalid(format!(
                "engine {:?} is not one this ML node runs (simulator, vllm, sglang, llamacpp)",
                launch.engine
            ))
        }
    };
    if launch.port == 0 {
        return invalid("port is required (1 to 65535)".into());
    }
    if kind != EngineKind::Simulator && launch.model_path.trim().is_empty() {
        return invalid(format!(
            "model_path is required for engine {kind} (a Hugging Face repo id or a local path)"
        ));
    }
    if !launch.dtype.is_empty()
        && !launch
            .dtype
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return invalid(format!(
            "dtype {:?} is not valid (e.g. auto, float16, bfloat16)",
            launch.dtype
        ));
    }
    if let Some(id) = launch.gpu_ids.iter().find(|id| {
        id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
    }) {
        return invalid(format!(
            "gpu_ids contains {id:?}: a GPU id is an index or a UUID"
        ));
    }
    if let Err(e) = check_args(&launch.args) {
        return invalid(format!("args: {e}"));
    }
    Ok(kind)
}

/// The fields in which `a` and `b` differ, in declaration order.
pub(crate) fn differences(a: &TaskLaunch, b: &TaskLaunch) -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut field = |name, differ: bool| {
        if differ {
            out.push(name);
        }
    };
    field("model", a.model != b.model);
    field("model_path", a.model_path != b.model_path);
    field("engine", a.engine != b.engine);
    field("gpu_ids", a.gpu_ids != b.gpu_ids);
    field("port", a.port != b.port);
    field("dtype", a.dtype != b.dtype);
    field("max_model_len", a.max_model_len != b.max_model_len);
    field(
        "tensor_parallel_size",
        a.tensor_parallel_size.max(1) != b.tensor_parallel_size.max(1),
    );
    field("args", a.args != b.args);
    out
}

/// What the engine is started with: the spec given to the engine's command builder and, for
/// llama.cpp, the GGUF file of the served name.
#[derive(Debug, Clone)]
pub(crate) struct EngineLaunch {
    pub(crate) spec: LaunchSpec,
    pub(crate) model_files: BTreeMap<String, PathBuf>,
}

/// The engine launch of `launch` on `kind`: the served name is `launch.model`, the weights
/// `launch.model_path`. vLLM serves the weights under `--served-model-name` with
/// `--enable-sleep-mode`; SGLang with `--served-model-name`; llama.cpp aliases the GGUF file
/// `model_path` as the model; the simulator serves the name.
pub(crate) fn engine_launch(kind: EngineKind, launch: &TaskLaunch) -> EngineLaunch {
    let dtype = if launch.dtype.is_empty() {
        "auto".to_owned()
    } else {
        launch.dtype.clone()
    };
    let tp = launch.tensor_parallel_size.max(1);
    let len = launch.max_model_len;
    let mut args: Vec<String> = Vec::new();
    let mut push = |a: &str, b: String| {
        args.push(a.to_owned());
        args.push(b);
    };
    let mut model = launch.model.clone();
    let mut model_files = BTreeMap::new();
    match kind {
        EngineKind::Vllm => {
            model = launch.model_path.clone();
            push("--served-model-name", launch.model.clone());
            if len > 0 {
                push("--max-model-len", len.to_string());
            }
            if tp > 1 {
                push("--tensor-parallel-size", tp.to_string());
            }
            args.push("--enable-sleep-mode".to_owned());
        }
        EngineKind::Sglang => {
            model = launch.model_path.clone();
            push("--served-model-name", launch.model.clone());
            if len > 0 {
                push("--context-length", len.to_string());
            }
            if tp > 1 {
                push("--tp-size", tp.to_string());
            }
        }
        EngineKind::Llamacpp => {
            // vLLM's flag, which the llama.cpp builder renames to --ctx-size.
            if len > 0 {
                push("--max-model-len", len.to_string());
            }
            model_files.insert(launch.model.clone(), PathBuf::from(&launch.model_path));
        }
        EngineKind::Simulator => {
            if len > 0 {
                push("--max-model-len", len.to_string());
            }
        }
    }
    args.extend(launch.args.iter().cloned());
    EngineLaunch {
        spec: LaunchSpec {
            model,
            dtype,
            args,
            port: launch.port,
        },
        model_files,
    }
}

/// The variable that makes a vendor's GPUs visible to a process: `HIP_VISIBLE_DEVICES` for
/// `amd` and `hygon`, `ASCEND_RT_VISIBLE_DEVICES` for `ascend`/`huawei`,
/// `MUSA_VISIBLE_DEVICES` for `musa`/`moore_threads`/`mthreads`, else (`nvidia`, unknown)
/// `CUDA_VISIBLE_DEVICES`.
pub fn visible_devices_var(vendor: &str) -> &'static str {
    match vendor
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
        .as_str()
    {
        "amd" | "hygon" | "rocm" | "dcu" => "HIP_VISIBLE_DEVICES",
        "ascend" | "huawei" | "npu" => "ASCEND_RT_VISIBLE_DEVICES",
        "musa" | "moore_threads" | "mthreads" | "mthreads_gpu" => "MUSA_VISIBLE_DEVICES",
        _ => "CUDA_VISIBLE_DEVICES",
    }
}

/// The environment of a process engine instance on a node whose GPUs are `vendor`'s: its GPUs
/// in the vendor's visible-devices variable and, for vLLM, `VLLM_SERVER_DEV_MODE=1` (which
/// exposes the `/sleep` and `/wake_up` endpoints).
pub(crate) fn engine_env(
    kind: EngineKind,
    vendor: &str,
    launch: &TaskLaunch,
) -> Vec<(String, String)> {
    let mut env = vec![(
        visible_devices_var(vendor).to_owned(),
        launch.gpu_ids.join(","),
    )];
    if kind == EngineKind::Vllm {
        env.push(("VLLM_SERVER_DEV_MODE".to_owned(), "1".to_owned()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(engine: &str) -> TaskLaunch {
        TaskLaunch {
            model: "qwen-chat".into(),
            model_path: "Qwen/Qwen3-0.6B".into(),
            engine: engine.into(),
            gpu_ids: vec!["0".into(), "1".into()],
            port: 8100,
            max_model_len: 4096,
            tensor_parallel_size: 2,
            args: vec!["--seed".into(), "1".into()],
            ..TaskLaunch::default()
        }
    }

    #[test]
    fn bad_fields_are_named() {
        type Spoil = fn(&mut TaskLaunch);
        let cases: [(&str, Spoil); 6] = [
            ("model", |l| l.model = " ".into()),
            ("engine", |l| l.engine = "tgi".into()),
            ("port", |l| l.port = 0),
            ("model_path", |l| l.model_path.clear()),
            ("gpu_ids", |l| l.gpu_ids = vec!["0,1".into()]),
            ("args", |l| l.args = vec!["--port=1".into()]),
        ];
        for (field, spoil) in cases {
            let mut l = launch("vllm");
            spoil(&mut l);
            let e = check(&l).unwrap_err().to_string();
            assert!(e.starts_with(field), "{field}: {e}");
        }
        assert_eq!(check(&launch("vllm")).unwrap(), EngineKind::Vllm);
        let mut sim = launch("simulator");
        sim.model_path.clear();
        assert_eq!(check(&sim).unwrap(), EngineKind::Simulator);
        assert!(check_task_id("t-1.a_b").is_ok());
        assert!(check_task_id("../x").is_err());
        assert!(check_task_id("").is_err());
    }

    #[test]
    fn a_wrong_type_names_its_field() {
        let e = decode(br#"{"model": "m", "port": "x"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("field port"), "{e}");
        let e = decode(br#"{"port": 70000}"#).unwrap_err().to_string();
        assert!(e.starts_with("field port"), "{e}");
        assert!(decode(b"[]").is_err());
        assert_eq!(decode(br#"{"model": "m", "port": 9}"#).unwrap().port, 9);
    }

    #[test]
    fn differences_name_the_fields() {
        let a = launch("vllm");
        let mut b = a.clone();
        assert!(differences(&a, &b).is_empty());
        b.port = 9;
        b.gpu_ids.pop();
        assert_eq!(differences(&a, &b), ["gpu_ids", "port"]);
    }

    #[test]
    fn vllm_serves_the_weights_under_the_name_with_sleep_mode() {
        let e = engine_launch(EngineKind::Vllm, &launch("vllm"));
        assert_eq!(e.spec.model, "Qwen/Qwen3-0.6B");
        assert_eq!(e.spec.port, 8100);
        assert_eq!(e.spec.dtype, "auto");
        assert_eq!(
            e.spec.args.join(" "),
            "--served-model-name qwen-chat --max-model-len 4096 --tensor-parallel-size 2 \
             --enable-sleep-mode --seed 1"
        );
        let env = engine_env(EngineKind::Vllm, "nvidia", &launch("vllm"));
        assert!(env.contains(&("CUDA_VISIBLE_DEVICES".into(), "0,1".into())));
        assert!(env.contains(&("VLLM_SERVER_DEV_MODE".into(), "1".into())));
    }

    #[test]
    fn llamacpp_aliases_the_gguf_file_and_sglang_names_the_model() {
        let mut l = launch("llamacpp");
        l.model_path = "/m/tiny.gguf".into();
        let e = engine_launch(EngineKind::Llamacpp, &l);
        assert_eq!(e.spec.model, "qwen-chat");
        assert_eq!(e.model_files["qwen-chat"], PathBuf::from("/m/tiny.gguf"));
        let e = engine_launch(EngineKind::Sglang, &launch("sglang"));
        assert!(e
            .spec
            .args
            .join(" ")
            .starts_with("--served-model-name qwen-chat --context-length 4096 --tp-size 2"));
    }

    #[test]
    fn each_vendor_has_its_visible_devices_variable() {
        assert_eq!(visible_devices_var("nvidia"), "CUDA_VISIBLE_DEVICES");
        assert_eq!(visible_devices_var("AMD"), "HIP_VISIBLE_DEVICES");
        assert_eq!(visible_devices_var("hygon"), "HIP_VISIBLE_DEVICES");
        assert_eq!(visible_devices_var("ascend"), "ASCEND_RT_VISIBLE_DEVICES");
        assert_eq!(visible_devices_var("Moore Threads"), "MUSA_VISIBLE_DEVICES");
        assert_eq!(visible_devices_var(""), "CUDA_VISIBLE_DEVICES");
        let mut l = launch("llamacpp");
        l.gpu_ids.clear();
        let env = engine_env(EngineKind::Llamacpp, "amd", &l);
        assert_eq!(env, [("HIP_VISIBLE_DEVICES".to_owned(), String::new())]);
    }
}
