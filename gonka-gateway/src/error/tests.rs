use std::time::Duration;

use axum::body::to_bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::*;

/// Every request error: its expected status, `type` and `code`.
fn cases() -> Vec<(GatewayError, StatusCode, &'static str, &'static str)> {
    let node = || "n1".to_owned();
    vec![
        (
            GatewayError::BadRequest("no model".into()),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_request",
        ),
        (
            GatewayError::PayloadTooLarge { limit: 10 },
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
        ),
        (
            GatewayError::UnknownEndpoint,
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
        ),
        (
            GatewayError::Unauthorized("no key".into()),
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "invalid_api_key",
        ),
        (
            GatewayError::KeyScope {
                model: "m".into(),
                deployment: "svc".into(),
            },
            StatusCode::FORBIDDEN,
            "permission_error",
            "key_scope",
        ),
        (
            GatewayError::ModelNotFound("m".into()),
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
        ),
        (
            GatewayError::NoCapacity {
                model: "m".into(),
                waited_ms: 5,
            },
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "no_capacity",
        ),
        (
            GatewayError::QueueFull("m".into()),
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "queue_full",
        ),
        (
            GatewayError::UpstreamConnect {
                node: node(),
                reason: "refused".into(),
            },
            StatusCode::BAD_GATEWAY,
            "server_error",
            "upstream_error",
        ),
        (
            GatewayError::UpstreamFailed {
                node: node(),
                reason: "reset".into(),
            },
            StatusCode::BAD_GATEWAY,
            "server_error",
            "upstream_error",
        ),
        (
            GatewayError::UpstreamCut {
                node: node(),
                reason: "eof".into(),
            },
            StatusCode::BAD_GATEWAY,
            "server_error",
            "upstream_error",
        ),
        (
            GatewayError::UpstreamBroke {
                node: node(),
                stage: "mid-stream",
                reason: "connection reset".into(),
            },
            StatusCode::BAD_GATEWAY,
            "server_error",
            "upstream_error",
        ),
        (
            GatewayError::UpstreamTimeout {
                node: node(),
                stage: "response",
                waited: Duration::from_secs(3),
            },
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            "upstream_timeout",
        ),
        (
            GatewayError::ShuttingDown,
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "shutting_down",
        ),
    ]
}

#[tokio::test]
async fn each_request_error_maps_to_its_status_type_and_code_in_the_openai_shape() {
    for (error, status, kind, code) in cases() {
        let message = error.to_string();
        let error_body = error.body();
        assert_eq!(error.parts(), (status, kind, code), "{error:?}");
        let by_ref = (&error).into_response();
        let response = error.into_response();
        assert_eq!(response.status(), status);
        let retry_after = response.headers().get("retry-after");
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let seconds: u32 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
            assert!(seconds >= 1, "{status}: Retry-After {seconds}");
        } else {
            assert!(retry_after.is_none(), "{status} has no Retry-After");
        }
        assert_eq!(by_ref.status(), status);
        let body = to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json, error_body,
            "the stream error event's body is the response's"
        );
        assert_eq!(
            json,
            serde_json::json!({"error": {"message": message, "type": kind, "code": code, "param": null}})
        );
    }
}

#[test]
fn messages_name_the_node_and_the_limit() {
    assert_eq!(
        GatewayError::PayloadTooLarge { limit: 1024 }.to_string(),
        "request body exceeds the limit of 1024 bytes"
    );
    let timeout = GatewayError::UpstreamTimeout {
        node: "n1".into(),
        stage: "body",
        waited: Duration::from_secs(30),
    };
    assert_eq!(
        timeout.to_string(),
        "upstream ML node timed out: node n1 sent no body within 30 s"
    );
    assert!(timeout.is_timeout());
    let cut = GatewayError::UpstreamCut {
        node: "n1".into(),
        reason: "eof".into(),
    };
    assert_eq!(
        cut.to_string(),
        "upstream ML node failed: node n1 failed before the first byte: eof"
    );
    assert!(!cut.is_timeout());
    assert!(
        !cut.answer_started(),
        "before the first byte: tried elsewhere"
    );
    let broke = GatewayError::UpstreamBroke {
        node: "n1".into(),
        stage: "mid-stream",
        reason: "connection reset".into(),
    };
    assert_eq!(
        broke.to_string(),
        "upstream ML node failed: node n1 failed mid-stream: connection reset"
    );
    assert!(broke.answer_started());
}

#[test]
fn startup_errors_keep_their_cause() {
    let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "address in use");
    let e = StartupError::Bind {
        what: "public",
        addr: "127.0.0.1:9000".parse().unwrap(),
        source: io,
    };
    assert_eq!(
        e.to_string(),
        "cannot bind the public listener on 127.0.0.1:9000"
    );
    assert_eq!(
        chain(&e),
        "cannot bind the public listener on 127.0.0.1:9000: address in use"
    );
    let registry = StartupError::Registry(gonka_core::Error::Unavailable(Box::new(
        std::io::Error::other("disk full"),
    )));
    assert!(std::error::Error::source(&registry).is_some());
    let devnet = StartupError::devnet("cannot open the PoC store", std::io::Error::other("denied"));
    assert_eq!(chain(&devnet), "devnet: cannot open the PoC store: denied");
    let failed = StartupError::devnet_failed("nodes not routable within 5 s");
    assert!(std::error::Error::source(&failed).is_none());
    assert_eq!(chain(&failed), "devnet: nodes not routable within 5 s");
}
