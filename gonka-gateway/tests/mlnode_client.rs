//! The typed management client against the real ML node agent (simulator engine) and against
//! wiremock answers the agent never gives (error statuses, malformed bodies, a hung node).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use gonka_core::mlnode_api::{ReplicaHealth, UpPhase, UpRequest};
use gonka_core::NodeStatus;
use gonka_gateway::mlnode_client::{MlNodeClient, MlNodeError};
use gonka_mlnode::MlNodeConfig;
use reqwest::StatusCode;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "mgmt-secret";

/// A real agent on 127.0.0.1:0 with a management token; dropping the sender stops it.
async fn start_agent() -> (String, oneshot::Sender<()>) {
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", mgmt.local_addr().unwrap());
    let config = MlNodeConfig {
        token: Some(TOKEN.into()),
        ..MlNodeConfig::default()
    };
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
        let _ = rx.await;
    }));
    (url, tx)
}

/// Polls `up_status` until the up left `in_progress` (at most 30 s).
async fn wait_up_done(node: &MlNodeClient) -> UpPhase {
    for _ in 0..600 {
        let phase = node.up_status().await.unwrap().status;
        if phase != UpPhase::InProgress {
            return phase;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("inference/up still in progress after 30 s");
}

#[tokio::test]
async fn every_call_decodes_the_real_agents_answers() {
    let (url, _stop) = start_agent().await;
    let node = MlNodeClient::new(&format!("{url}/")).with_token(TOKEN);
    assert_eq!(node.base_url(), url);

    node.health().await.unwrap();
    let state = node.state().await.unwrap();
    assert_eq!(state.node_status(), NodeStatus::Stopped);
    assert_eq!(state.engine_kind(), Some("simulator"));
    assert_eq!(state.up_status, Some(UpPhase::NotStarted));
    assert!(!state.serving());

    let reply = node
        .inference_up(&UpRequest::new("test/model", Vec::new()))
        .await
        .unwrap();
    // inference/up answers once the engine serves (upstream's blocking up).
    assert_eq!(reply.status, "OK");
    assert_eq!(wait_up_done(&node).await, UpPhase::Completed);
    let state = node.state().await.unwrap();
    assert!(state.serving(), "{state:?}");
    assert_eq!(state.model(), Some("test/model"));
    assert!(state
        .replicas
        .iter()
        .all(|r| r.health == ReplicaHealth::Ready));
    let again = node
        .inference_up(&UpRequest::new("test/model", Vec::new()))
        .await
        .unwrap();
    assert_eq!(again.status, "OK", "the same model again changes nothing");

    let busy = node
        .inference_up(&UpRequest::new("other/model", Vec::new()))
        .await
        .unwrap_err();
    assert!(busy.is_conflict(), "{busy}");
    assert!(busy.to_string().contains("already running"), "{busy}");

    let bad = node
        .inference_up(&UpRequest::new("", Vec::new()))
        .await
        .unwrap_err();
    assert_eq!(bad.http_status(), Some(StatusCode::BAD_REQUEST), "{bad}");
    assert!(bad.to_string().contains("model is required"), "{bad}");

    let logs = node.logs().await.unwrap();
    assert_eq!(logs.replicas.len(), state.replicas.len());
    let gpus = node.gpu_devices().await.unwrap();
    assert_eq!(gpus.count, gpus.devices.len());
    node.gpu_driver().await.unwrap();
    let models = node.models().await.unwrap();
    assert_eq!(models.count, models.models.len());
    node.models_space().await.unwrap();

    assert_eq!(node.pow_status().await.unwrap().status, "IDLE");
    assert_eq!(node.pow_stop().await.unwrap().status, "OK");

    assert_eq!(node.inference_down().await.unwrap().status, "OK");
    assert_eq!(node.stop().await.unwrap().status, "OK");
    assert_eq!(
        node.state().await.unwrap().node_status(),
        NodeStatus::Stopped
    );
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_a_401_with_the_agents_message() {
    let (url, _stop) = start_agent().await;
    let without = MlNodeClient::new(&url);
    without.health().await.expect("health probes stay open");
    let e = without.state().await.unwrap_err();
    assert_eq!(e.http_status(), Some(StatusCode::UNAUTHORIZED));
    assert!(e.to_string().contains("bearer token"), "{e}");
    let wrong = without.at(&url).with_token("nope");
    assert!(matches!(
        wrong.stop().await.unwrap_err(),
        MlNodeError::Status {
            status: StatusCode::UNAUTHORIZED,
            ..
        }
    ));
}

#[tokio::test]
async fn error_statuses_carry_the_nodes_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/inference/up"))
        .respond_with(
            ResponseTemplate::new(409).set_body_json(serde_json::json!({"detail": "PoC running"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(503).set_body_string("draining"))
        .mount(&server)
        .await;
    let node = MlNodeClient::new(&server.uri());
    let e = node
        .inference_up(&UpRequest::new("m", Vec::new()))
        .await
        .unwrap_err();
    assert!(e.is_conflict());
    match &e {
        MlNodeError::Status {
            method,
            url,
            message,
            ..
        } => {
            assert_eq!(*method, "POST");
            assert_eq!(url, &format!("{}/api/v1/inference/up", server.uri()));
            assert_eq!(message, "PoC running");
        }
        other => panic!("not a status error: {other:?}"),
    }
    let e = node.health().await.unwrap_err();
    assert_eq!(e.http_status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert!(e.to_string().ends_with("draining"), "{e}");
}

#[tokio::test]
async fn malformed_bodies_are_decode_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/state"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"loaded_model": "m"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/gpu/devices"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>"))
        .mount(&server)
        .await;
    let node = MlNodeClient::new(&server.uri());
    let e = node.state().await.unwrap_err();
    assert!(
        matches!(
            e,
            MlNodeError::Decode {
                status: StatusCode::OK,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("state"),
        "names the missing field: {e}"
    );
    let MlNodeError::Decode { body, .. } = node.gpu_devices().await.unwrap_err() else {
        panic!("not a decode error");
    };
    assert_eq!(body, "<html>");
}

#[tokio::test]
async fn a_hung_node_times_out_and_a_closed_port_fails_to_connect() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/state"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&server)
        .await;
    let node = MlNodeClient::new(&server.uri()).with_timeout(Duration::from_millis(200));
    let e = node.state().await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(e.to_string().ends_with("timed out"), "{e}");

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let e = node
        .at(&format!("http://{addr}"))
        .health()
        .await
        .unwrap_err();
    assert!(matches!(e, MlNodeError::Connect { .. }), "{e:?}");
    assert!(std::error::Error::source(&e).is_some(), "keeps the cause");
}
