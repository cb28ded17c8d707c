use super::*;
use crate::NodeStatus;

#[test]
fn upstream_state_names_map_to_statuses() {
    assert_eq!(map_state("INFERENCE"), NodeStatus::Inference);
    assert_eq!(map_state("POW"), NodeStatus::Poc);
    assert_eq!(map_state("TRAIN"), NodeStatus::Training);
    assert_eq!(map_state("stopped"), NodeStatus::Stopped);
    assert_eq!(map_state("LOADING"), NodeStatus::Unknown);
}

#[test]
fn an_upstream_state_with_only_state_decodes() {
    let s: StateReport = serde_json::from_str(r#"{"state": "INFERENCE"}"#).unwrap();
    assert_eq!(s, StateReport::new("INFERENCE"));
    assert!(s.serving(), "no readiness reported reads as serving");
    let not_ready: StateReport =
        serde_json::from_str(r#"{"state": "INFERENCE", "inference_healthy": false}"#).unwrap();
    assert!(!not_ready.serving());
    assert!(serde_json::from_str::<StateReport>(r#"{"loaded_model": "m"}"#).is_err());
}

#[test]
fn upstreams_null_fields_of_a_stopped_node_decode() {
    // Upstream's StateResponse outside INFERENCE: the optional fields are `null`.
    let s: StateReport = serde_json::from_str(
        r#"{"state": "STOPPED", "version": null, "poc_status": null, "inference_healthy": null, "loaded_model": null}"#,
    )
    .unwrap();
    assert_eq!(s, StateReport::new("STOPPED"));
    assert_eq!(s.node_status(), NodeStatus::Stopped);
}

#[test]
fn a_full_state_round_trips_and_omits_an_unreported_queue_depth() {
    let mut s = StateReport::new("INFERENCE");
    s.inference_healthy = Some(true);
    s.loaded_model = Some("Qwen/Qwen3-0.6B".into());
    s.engine = Some("vllm".into());
    s.agent_uptime_s = Some(1.5);
    s.up_status = Some(UpPhase::Completed);
    s.replicas.push(ReplicaReport {
        index: 0,
        health: ReplicaHealth::Ready,
        base_url: Some("http://127.0.0.1:5000".into()),
        pid: Some(7),
        restarts: 0,
        in_flight: 1,
        last_error: None,
    });
    let json = serde_json::to_value(&s).unwrap();
    assert!(json.get("queue_depth").is_none());
    for extension in ["loaded_models", "disk_models", "memory"] {
        assert!(
            json.get(extension).is_none(),
            "{extension} omitted when unset"
        );
    }
    assert_eq!(json["up_status"], "completed");
    assert_eq!(json["replicas"][0]["health"], "ready");
    assert_eq!(json["last_error"], serde_json::Value::Null);
    let back: StateReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
}

#[test]
fn an_unknown_up_phase_decodes_as_unknown() {
    let p: UpPhase = serde_json::from_str(r#""paused""#).unwrap();
    assert_eq!(p, UpPhase::Unknown);
}

#[test]
fn empty_fields_read_as_absent() {
    let mut s = StateReport::new("INFERENCE");
    s.loaded_model = Some(String::new());
    s.engine = Some(String::new());
    s.last_error = Some(String::new());
    assert_eq!((s.model(), s.engine_kind(), s.error()), (None, None, None));
}

#[test]
fn up_request_defaults_dtype_and_args() {
    let r: UpRequest = serde_json::from_str(r#"{"model": "m"}"#).unwrap();
    assert_eq!(r, UpRequest::new("m", Vec::new()));
    assert_eq!(r.dtype, "auto");
}

#[test]
fn gpu_report_picks_the_first_name_and_the_smallest_memory() {
    let r: GpuReport = serde_json::from_str(
        r#"{"devices": [{"name": ""}, {"name": "H100", "total_memory_mb": 81559}, {"total_memory_mb": 40960}]}"#,
    )
    .unwrap();
    assert_eq!(r.gpu_type(), Some("H100"));
    assert_eq!(r.min_total_memory_mb(), Some(40960));
    assert_eq!(GpuReport::default().gpu_type(), None);
}

#[test]
fn error_reply_prefers_error_over_detail() {
    let upstream: ErrorReply = serde_json::from_str(r#"{"detail": "busy"}"#).unwrap();
    assert_eq!(upstream.message(), Some("busy"));
    let ours = ErrorReply::new("conflict");
    assert_eq!(
        serde_json::to_value(&ours).unwrap(),
        serde_json::json!({"detail": "conflict", "error": "conflict"})
    );
    assert_eq!(ErrorReply::default().message(), None);
}

#[test]
fn an_inference_node_running_poc_reads_as_poc_like_upstreams_broker() {
    for poc in ["GENERATING", "VALIDATING"] {
        let s: StateReport = serde_json::from_value(serde_json::json!({
            "state": "INFERENCE", "poc_status": poc, "inference_healthy": true
        }))
        .unwrap();
        assert_eq!(s.node_status(), NodeStatus::Poc, "{poc}");
        assert!(!s.serving());
    }
    let idle: StateReport = serde_json::from_value(serde_json::json!({
        "state": "INFERENCE", "poc_status": "IDLE", "inference_healthy": true
    }))
    .unwrap();
    assert_eq!(idle.node_status(), NodeStatus::Inference);
    assert!(idle.serving());
}

#[test]
fn model_types_use_upstreams_names_and_task_ids() {
    let latest = HfModel::new("Qwen/Qwen3-32B-FP8", None);
    assert_eq!(latest.task_id(), "Qwen/Qwen3-32B-FP8:latest");
    assert_eq!(HfModel::new("a/b", Some("abc".into())).task_id(), "a/b:abc");
    let reply = HfModelStatusReply {
        model: latest.clone(),
        status: HfModelStatus::NotFound,
        progress: None,
        error_message: None,
    };
    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        serde_json::json!({
            "model": {"hf_repo": "Qwen/Qwen3-32B-FP8", "hf_commit": null},
            "status": "NOT_FOUND", "progress": null, "error_message": null
        })
    );
    // Go sends `hf_commit: null`; a body without it reads the same.
    let sent: HfModel = serde_json::from_str(r#"{"hf_repo": "Qwen/Qwen3-32B-FP8"}"#).unwrap();
    assert_eq!(sent, latest);
    let health: HealthReport = serde_json::from_str(r#"{"status": "healthy"}"#).unwrap();
    assert_eq!(health.status, "healthy");
    assert!(!health.managers.inference.running);
}

#[test]
fn residency_and_memory_extensions_round_trip_and_default_when_absent() {
    let mut s = StateReport::new("INFERENCE");
    s.inference_healthy = Some(true);
    s.loaded_model = Some("m".into());
    s.loaded_models = Some(vec![crate::LoadedModel {
        name: "m".into(),
        context_length: 8192,
    }]);
    s.disk_models = vec!["m".into(), "other".into()];
    s.memory = Some(MemoryReport::new(24_000, 100));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json["loaded_models"],
        serde_json::json!([{"name": "m", "context_length": 8192}])
    );
    assert_eq!(json["disk_models"], serde_json::json!(["m", "other"]));
    assert_eq!(
        json["memory"],
        serde_json::json!({"total_mb": 24000, "free_mb": 100, "pressure": "critical"})
    );
    let back: StateReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.resident_models()[0].context_length, 8192);

    // Upstream's body: no extension; the loaded model of a serving node reads as resident.
    let upstream: StateReport = serde_json::from_str(
        r#"{"state": "INFERENCE", "inference_healthy": true, "loaded_model": "m"}"#,
    )
    .unwrap();
    assert_eq!(upstream.memory, None);
    assert!(upstream.disk_models.is_empty());
    let resident = upstream.resident_models();
    assert_eq!((&*resident[0].name, resident[0].context_length), ("m", 0));
    // Reported and empty: nothing in memory, whatever `loaded_model` says.
    let cold: StateReport = serde_json::from_str(
        r#"{"state": "INFERENCE", "loaded_model": "m", "loaded_models": [],
            "memory": {"total_mb": 10, "free_mb": 5}}"#,
    )
    .unwrap();
    assert!(cold.resident_models().is_empty());
    assert_eq!(cold.memory.unwrap().pressure, crate::MemoryPressure::Normal);
}

#[test]
fn task_instances_in_the_state_are_omitted_when_none_and_round_trip() {
    let mut state = StateReport::new("STOPPED");
    let v = serde_json::to_value(&state).unwrap();
    assert!(
        v.get("tasks").is_none(),
        "upstream's shape without tasks: {v}"
    );
    let launch = TaskLaunch {
        model: "m".into(),
        engine: "simulator".into(),
        port: 8100,
        ..TaskLaunch::default()
    };
    state.tasks.push(TaskInstance::starting("t-1", &launch, 7));
    let v = serde_json::to_value(&state).unwrap();
    assert_eq!(v["tasks"][0]["task_id"], "t-1");
    assert_eq!(v["tasks"][0]["state"], "starting");
    let back: StateReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, state);
}
