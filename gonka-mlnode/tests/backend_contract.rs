//! The shared `InferenceBackend` conformance suite (`gonka_core::testing::backend_suite`), run
//! against every engine implementation of this crate (the simulator and a supervised process
//! with the fake engine), used as `dyn InferenceBackend`; plus process-specific checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{alive, fake_engine_config};
use gonka_core::testing::{backend_suite, launch_spec};
use gonka_core::{EngineHealth, InferenceBackend, LaunchSpec};
use gonka_mlnode::engine::{EngineKind, ProcessBackend, SimulatorBackend};
use gonka_mlnode::simulator::SimulatorConfig;

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn simulator_backend_conforms() {
    let backend = SimulatorBackend::new(SimulatorConfig::default(), Duration::from_millis(200));
    backend_suite(&backend, 0).await;
}

#[tokio::test]
async fn process_backend_conforms() {
    let options = fake_engine_config(EngineKind::Vllm).process_options(0);
    let backend = ProcessBackend::new(options);
    backend_suite(&backend, free_port().await).await;
}

/// Beyond the shared suite: a supervised process is really gone once `stop` returns.
#[tokio::test]
async fn process_backend_stop_leaves_no_process() {
    let options = fake_engine_config(EngineKind::Vllm).process_options(0);
    let backend: Arc<dyn InferenceBackend> = Arc::new(ProcessBackend::new(options));
    backend
        .start(&launch_spec(free_port().await))
        .await
        .unwrap();
    let pid = backend.pid().expect("a running process has a pid");
    assert!(alive(pid));
    backend.stop().await.unwrap();
    assert!(!alive(pid), "process {pid} survived stop");
}

#[tokio::test]
async fn process_backend_start_failure_leaves_no_process_and_reports_failed() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let options = fake_engine_config(EngineKind::Sglang).process_options(0);
    let backend = ProcessBackend::new(options);
    let spec = LaunchSpec {
        model: "m".into(),
        dtype: "auto".into(),
        args: vec![
            "--fake-fail-start".into(),
            "RuntimeError: not enough GPU memory".into(),
            "--fake-pid-log".into(),
            pids.to_str().unwrap().into(),
        ],
        port: free_port().await,
    };
    let err = backend.start(&spec).await.unwrap_err();
    assert!(err.to_string().contains("not enough GPU memory"), "{err}");
    assert!(
        matches!(backend.health().await, EngineHealth::Failed(reason) if reason.contains("GPU memory"))
    );
    assert!(backend.last_error().unwrap().contains("GPU memory"));
    assert!(backend
        .log_tail()
        .iter()
        .any(|l| l.contains("fake engine starting")));
    let pid: u32 = std::fs::read_to_string(&pids)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid));
    assert_eq!(backend.base_url(), None);
}
