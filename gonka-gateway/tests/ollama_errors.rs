//! Errors of the Ollama API in Ollama's shape, `{"error": "..."}`, against a real gateway and a
//! fake ML node on loopback: bad input is a 400 naming the field and reaches no node; an unknown
//! model is a 404; no free node is a 503 with `Retry-After`; a stream a node breaks off ends with
//! an error line; API keys guard `/api/*` as they guard `/v1`; unknown paths, wrong methods and
//! an engine without embeddings answer in the same shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::fake_mlnode::{Cut, FakeMlNode, FakeOptions};
use common::*;
use serde_json::{json, Value};

async fn gateway_with_node(
    options: FakeOptions,
    config: gonka_gateway::GatewayConfig,
) -> (gonka_gateway::RunningGateway, FakeMlNode) {
    let node = FakeMlNode::start(options);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 1)).await;
    wait_routable(&gw, MODEL, 1).await;
    (gw, node)
}

async fn post(gw: &gonka_gateway::RunningGateway, path: &str, body: &str) -> reqwest::Response {
    client()
        .post(format!("http://{}{path}", gw.public_addr))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The status and the `error` text of an Ollama error answer (which must be `{"error": text}`).
async fn ollama_error(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    let text = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("not Ollama's shape: {body}"));
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    (status, text.to_owned())
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field_and_reaches_no_node() {
    let (gw, node) = gateway_with_node(FakeOptions::serving(MODEL), test_config()).await;
    let chat = |extra: &str| {
        format!(r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}]{extra}}}"#)
    };
    let cases = [
        (
            "/api/chat",
            "{\"model\": \"m\", \"messages\": [".to_owned(),
            "not valid JSON",
        ),
        ("/api/chat", "[1,2]".to_owned(), "JSON object"),
        (
            "/api/chat",
            r#"{"messages":[]}"#.to_owned(),
            "model is required",
        ),
        ("/api/chat", chat(r#","options":"fast""#), "options"),
        (
            "/api/chat",
            chat(r#","options":{"temperature":"hot"}"#),
            "options.temperature",
        ),
        (
            "/api/chat",
            chat(r#","options":{"num_ctx":1000000000000}"#),
            "options.num_ctx",
        ),
        (
            "/api/chat",
            chat(r#","options":{"num_ctx":-1}"#),
            "options.num_ctx",
        ),
        (
            "/api/chat",
            chat(r#","options":{"num_predict":0}"#),
            "options.num_predict",
        ),
        (
            "/api/chat",
            chat(r#","keep_alive":"forever""#),
            "keep_alive",
        ),
        ("/api/chat", chat(r#","format":"yaml""#), "format"),
        ("/api/chat", chat(r#","stream":"yes""#), "stream"),
        (
            "/api/chat",
            format!(r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":["x"]}}]}}"#),
            "messages[0].content",
        ),
        (
            "/api/generate",
            format!(r#"{{"model":"{MODEL}","prompt":42}}"#),
            "prompt",
        ),
        (
            "/api/generate",
            format!(r#"{{"model":"{MODEL}","prompt":"x","options":{{"stop":[1]}}}}"#),
            "options.stop[0]",
        ),
        (
            "/api/embed",
            format!(r#"{{"model":"{MODEL}","input":[1]}}"#),
            "input[0]",
        ),
        ("/api/show", "{}".to_owned(), "model is required"),
    ];
    for (path, body, field) in cases {
        let (status, text) = ollama_error(post(&gw, path, &body).await).await;
        assert_eq!(status, 400, "{path} {body}: {text}");
        assert!(
            text.contains(field),
            "{path} {body}: {text:?} should name {field}"
        );
    }
    assert_eq!(node.state.arrived(), 0, "bad input reached the node");
    let metrics = gw.metrics.render(&gw.pool);
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("gonka_gateway_requests_total{")),
        "bad input went through the proxy:\n{metrics}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unknown_model_is_a_404_like_ollamas() {
    let (gw, node) = gateway_with_node(FakeOptions::serving(MODEL), test_config()).await;
    for (path, body) in [
        (
            "/api/chat",
            r#"{"model":"nobody/none","messages":[{"role":"user","content":"hi"}]}"#,
        ),
        ("/api/chat", r#"{"model":"nobody/none"}"#),
        (
            "/api/generate",
            r#"{"model":"nobody/none","prompt":"hi","stream":false}"#,
        ),
        ("/api/embed", r#"{"model":"nobody/none","input":"hi"}"#),
        ("/api/show", r#"{"model":"nobody/none"}"#),
    ] {
        let (status, text) = ollama_error(post(&gw, path, body).await).await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(text.contains("nobody/none"), "{path}: {text}");
    }
    assert_eq!(node.state.arrived(), 0);
    // Ollama's default tag is understood: `model:latest` is the model.
    let resp = post(
        &gw,
        "/api/chat",
        &format!(r#"{{"model":"{MODEL}:latest","stream":false,"messages":[{{"role":"user","content":"hi"}}]}}"#),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["model"], format!("{MODEL}:latest"));
    gw.shutdown().await;
}

#[tokio::test]
async fn no_free_node_is_a_503_with_retry_after() {
    let mut config = test_config();
    config.queue_timeout = Duration::from_millis(300);
    let options = FakeOptions {
        gated: true,
        ..FakeOptions::serving(MODEL)
    };
    let (gw, node) = gateway_with_node(options, config).await;
    // The only slot is held by a stream waiting at the node's gate.
    let held = post(
        &gw,
        "/v1/chat/completions",
        &chat_body(MODEL, true).to_string(),
    )
    .await;
    assert_eq!(held.status(), 200);
    eventually("the slot is held", || async { node.state.active() == 1 }).await;
    let resp = post(
        &gw,
        "/api/chat",
        &format!(r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}]}}"#),
    )
    .await;
    assert_eq!(resp.headers()["retry-after"], "2");
    let (status, text) = ollama_error(resp).await;
    assert_eq!(status, 503);
    assert!(text.contains(MODEL), "{text}");
    node.state.open_gate();
    drop(held);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stream_broken_off_by_its_node_ends_with_an_error_line() {
    let mut config = test_config();
    config.max_tries = 1;
    let (gw, node) = gateway_with_node(FakeOptions::serving(MODEL), config).await;
    node.state.set_cut(Some(Cut::AfterEvents(2)));
    let resp = post(
        &gw,
        "/api/chat",
        &format!(r#"{{"model":"{MODEL}","messages":[{{"role":"user","content":"hi"}}]}}"#),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0]["message"]["content"], "tok0 ");
    assert_eq!(lines[1]["message"]["content"], "tok1 ");
    let error = lines[2]["error"].as_str().unwrap();
    assert!(error.contains("node n1"), "{error}");
    assert!(lines.iter().all(|l| l.get("done") != Some(&json!(true))));
    gw.shutdown().await;
}

#[tokio::test]
async fn api_keys_guard_the_ollama_api_and_errors_keep_ollamas_shape() {
    let mut config = test_config();
    config.api_keys = ["sk-ollama".to_owned()].into_iter().collect();
    let (gw, _node) = gateway_with_node(FakeOptions::serving(MODEL), config).await;
    let base = format!("http://{}", gw.public_addr);
    let resp = client()
        .get(format!("{base}/api/tags"))
        .send()
        .await
        .unwrap();
    let (status, _) = ollama_error(resp).await;
    assert_eq!(status, 401);
    let resp = client()
        .get(format!("{base}/api/tags"))
        .bearer_auth("sk-ollama")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client()
        .post(format!("{base}/api/chat"))
        .bearer_auth("sk-ollama")
        .json(&json!({"model": MODEL, "stream": false, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The probe stays open, as /livez does.
    let resp = client().head(format!("{base}/")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // Paths and methods the gateway does not serve.
    let resp = client()
        .post(format!("{base}/api/pull"))
        .bearer_auth("sk-ollama")
        .json(&json!({"model": MODEL}))
        .send()
        .await
        .unwrap();
    let (status, text) = ollama_error(resp).await;
    assert_eq!(status, 404);
    assert!(text.contains("/api/pull"), "{text}");
    let resp = client()
        .get(format!("{base}/api/chat"))
        .bearer_auth("sk-ollama")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "POST");
    let (status, _) = ollama_error(resp).await;
    assert_eq!(status, 405);
    gw.shutdown().await;
}

#[tokio::test]
async fn embed_on_an_engine_without_embeddings_is_a_clear_501() {
    let (gw, _node) = gateway_with_node(FakeOptions::serving(MODEL), test_config()).await;
    let resp = post(
        &gw,
        "/api/embed",
        &format!(r#"{{"model":"{MODEL}","input":"hi"}}"#),
    )
    .await;
    let (status, text) = ollama_error(resp).await;
    assert_eq!(status, 501);
    assert!(
        text.contains("embeddings") && text.contains(MODEL),
        "{text}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn the_gateways_body_limit_applies_as_on_v1() {
    let mut config = test_config();
    config.body_limit = 4 * 1024 * 1024;
    let options = FakeOptions {
        body_limit: Some(8 * 1024 * 1024),
        ..FakeOptions::serving(MODEL)
    };
    let (gw, node) = gateway_with_node(options, config).await;
    // Over axum's default 2 MiB, under the gateway's limit: routed (an image-sized prompt).
    let big = "word ".repeat(600_000);
    let body =
        json!({"model": MODEL, "stream": false, "messages": [{"role": "user", "content": big}]});
    let resp = post(&gw, "/api/chat", &body.to_string()).await;
    assert_eq!(resp.status(), 200);
    // Over the gateway's limit: 413 in Ollama's shape, not routed.
    let arrived = node.state.arrived();
    let huge = json!({"model": MODEL, "prompt": "word ".repeat(1_000_000)});
    let (status, text) = ollama_error(post(&gw, "/api/generate", &huge.to_string()).await).await;
    assert_eq!(status, 413);
    assert!(text.contains("4194304"), "{text}");
    assert_eq!(node.state.arrived(), arrived);
    gw.shutdown().await;
}
