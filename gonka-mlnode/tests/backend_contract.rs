//! The `InferenceBackend` contract, run against every engine implementation of this crate (the
//! simulator and a supervised process with the fake engine), used as `dyn InferenceBackend`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{alive, fake_engine_config};
use gonka_core::{EngineHealth, Error, InferenceBackend, LaunchSpec};
use gonka_mlnode::engine::{EngineKind, ProcessBackend, SimulatorBackend};
use gonka_mlnode::simulator::SimulatorConfig;

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// start → ready with a base URL that answers; same model again → Ok; other model → Busy;
/// stop → stopped, no base URL, process gone; stop again → Ok; start again → ready.
async fn backend_contract(backend: Arc<dyn InferenceBackend>, port: u16) {
    let spec = LaunchSpec {
        model: "contract-model".into(),
        dtype: "auto".into(),
        args: vec![],
        port,
    };
    assert_eq!(backend.health().await, EngineHealth::Stopped);
    assert_eq!(backend.base_url(), None);

    backend.start(&spec).await.unwrap();
    assert_eq!(backend.health().await, EngineHealth::Ready);
    let base_url = backend.base_url().expect("a ready engine has a base URL");
    let client = common::client();
    let models: serde_json::Value = client
        .get(format!("{base_url}/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"][0]["id"], "contract-model");
    let pid = backend.pid();

    backend
        .start(&spec)
        .await
        .expect("starting the running model again is a no-op");
    let other = LaunchSpec {
        model: "other-model".into(),
        ..spec.clone()
    };
    assert!(matches!(backend.start(&other).await, Err(Error::Busy(_))));

    backend.stop().await.unwrap();
    assert_eq!(backend.health().await, EngineHealth::Stopped);
    assert_eq!(backend.base_url(), None);
    assert_eq!(backend.pid(), None);
    if let Some(pid) = pid {
        assert!(!alive(pid), "process {pid} survived stop");
    }
    let refused = client
        .get(format!("{base_url}/v1/models"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(refused.is_err(), "the port is released after stop");
    backend.stop().await.expect("stop is idempotent");

    backend.start(&spec).await.unwrap();
    assert_eq!(backend.health().await, EngineHealth::Ready);
    backend.stop().await.unwrap();
}

#[tokio::test]
async fn simulator_backend_conforms() {
    let backend = Arc::new(SimulatorBackend::new(
        SimulatorConfig::default(),
        Duration::from_millis(200),
    ));
    backend_contract(backend, 0).await;
}

#[tokio::test]
async fn process_backend_conforms() {
    let options = fake_engine_config(EngineKind::Vllm).process_options(0);
    let backend = Arc::new(ProcessBackend::new(options));
    backend_contract(backend, free_port().await).await;
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
