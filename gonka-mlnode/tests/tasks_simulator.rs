//! Deployment task instances on the ML node (`/api/v1/tasks`) with the simulator engine, on an
//! in-process agent: two instances with their own models and ports each answer their model
//! through the inference port beside the single-model engine (whose up/down keeps working);
//! idempotent PUT, 409 and 400 naming the field; sleep (the simulator's own sleep mode, so the
//! engine itself refuses while asleep), a request that wakes it and is answered, the wake in
//! state and metrics; DELETE and shutdown stop the engines (their ports no longer answer).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{answers, client, eventually, free_port, Node};
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};

fn launch(model: &str, port: u16) -> Value {
    json!({"model": model, "engine": "simulator", "gpu_ids": ["0"], "port": port})
}

async fn delete(node: &Node, task_id: &str) -> (u16, Value) {
    let r = node
        .client
        .delete(format!("{}/api/v1/tasks/{task_id}", node.mgmt))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn chat(node: &Node, model: &str) -> (u16, Value) {
    let r = node
        .client
        .post(format!("{}/v1/chat/completions", node.inference))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Completion requests the simulator on `port` received.
async fn engine_requests(port: u16) -> u64 {
    let stats: Value = client()
        .get(format!("http://127.0.0.1:{port}/sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["requests_total"].as_u64().unwrap()
}

fn quick_config() -> MlNodeConfig {
    MlNodeConfig {
        drain_timeout: Duration::from_millis(300),
        startup_timeout: Duration::from_secs(30),
        ..MlNodeConfig::default()
    }
}

#[tokio::test]
async fn two_instances_answer_their_own_models_beside_the_single_model_engine() {
    let node = Node::start(MlNodeConfig {
        model: Some("base-model".into()),
        ..quick_config()
    })
    .await;
    node.wait_inference_healthy().await;
    let (pa, pb) = (free_port(), free_port());
    let (code, a) = node.put_task("t-a", &launch("alpha", pa)).await;
    assert_eq!(code, 202, "{a}");
    assert_eq!(a["task_id"], "t-a");
    assert_eq!(a["model"], "alpha");
    assert_eq!(a["sleep_mode"], "engine_sleep");
    let (code, b) = node.put_task("t-b", &launch("beta", pb)).await;
    assert_eq!(code, 202, "{b}");
    node.wait_task("t-a", "running").await;
    node.wait_task("t-b", "running").await;

    for (model, mine, other) in [("alpha", pa, pb), ("beta", pb, pa)] {
        let (mine_before, other_before) =
            (engine_requests(mine).await, engine_requests(other).await);
        let (code, answer) = chat(&node, model).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(answer["model"], model, "{answer}");
        assert_eq!(
            engine_requests(mine).await,
            mine_before + 1,
            "{model} went to its instance"
        );
        assert_eq!(
            engine_requests(other).await,
            other_before,
            "{model} not to the other one"
        );
    }
    // Another model goes to the single-model engine, not to an instance.
    let (code, answer) = chat(&node, "base-model").await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        (engine_requests(pa).await, engine_requests(pb).await),
        (1, 1)
    );

    let (code, list) = node.get("/api/v1/tasks").await;
    assert_eq!(code, 200);
    let ids: Vec<&str> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["t-a", "t-b"]);
    let state = node.state().await;
    assert_eq!(state["tasks"].as_array().unwrap().len(), 2, "{state}");
    assert_eq!(state["loaded_model"], "base-model");
    let t = &state["tasks"][0];
    assert_eq!(t["state"], "running");
    assert_eq!(t["in_flight"], 0);
    assert!(t["last_request_ms"].as_u64().unwrap() > 0, "{t}");

    // Gonka's up/down of the single model keeps working beside the instances.
    let (code, _) = node.post("/api/v1/inference/down", json!({})).await;
    assert_eq!(code, 200);
    assert_eq!(chat(&node, "base-model").await.0, 503);
    assert_eq!(chat(&node, "alpha").await.0, 200);
    let (code, _) = node
        .post(
            "/api/v1/inference/up",
            json!({"model": "base-model", "dtype": "auto"}),
        )
        .await;
    assert!((200..300).contains(&code), "{code}");
    node.wait_inference_healthy().await;
    assert_eq!(chat(&node, "base-model").await.0, 200);

    // Shutdown stops every instance.
    node.stop().await.unwrap();
    assert!(!answers(pa).await, "instance port {pa} still answers");
    assert!(!answers(pb).await, "instance port {pb} still answers");
}

#[tokio::test]
async fn put_is_idempotent_and_bad_or_conflicting_launches_are_named() {
    let node = Node::start(MlNodeConfig {
        model: Some("base-model".into()),
        token: Some("secret".into()),
        ..quick_config()
    })
    .await;
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth("secret");
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = auth(node.client.request(method, format!("{}{path}", node.mgmt)));
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            let code = r.status().as_u16();
            (code, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let port = free_port();
    // Same token as every management route.
    assert_eq!(node.put_task("t-1", &launch("m1", port)).await.0, 401);
    assert_eq!(node.get("/api/v1/tasks").await.0, 401);

    let (code, first) = call(
        reqwest::Method::PUT,
        "/api/v1/tasks/t-1",
        Some(launch("m1", port)),
    )
    .await;
    assert_eq!(code, 202, "{first}");
    let (code, again) = call(
        reqwest::Method::PUT,
        "/api/v1/tasks/t-1",
        Some(launch("m1", port)),
    )
    .await;
    assert_eq!(code, 202, "{again}");
    assert_eq!(again["task_id"], "t-1");
    // The same instance: still in the state it was (or moved on from starting to running, which
    // a fresh simulator may do between the two calls), never started over.
    if again["state"] == first["state"] {
        assert_eq!(
            again["since_ms"], first["since_ms"],
            "the same instance: {again}"
        );
    } else {
        assert_eq!(first["state"], "starting", "{first}");
        assert_eq!(again["state"], "running", "{again}");
    }

    let other = free_port();
    let (code, e) = call(
        reqwest::Method::PUT,
        "/api/v1/tasks/t-1",
        Some(launch("m1", other)),
    )
    .await;
    assert_eq!(code, 409, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("port"), "{e}");
    let (code, e) = call(
        reqwest::Method::PUT,
        "/api/v1/tasks/t-1",
        Some(launch("m2", port)),
    )
    .await;
    assert_eq!(code, 409, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("model"), "{e}");

    let state = eventually("the single-model engine serving", || async {
        let (_, s) = call(reqwest::Method::GET, "/api/v1/state", None).await;
        (s["inference_healthy"] == true).then_some(s)
    })
    .await;
    let engine_port: u16 = state["replicas"][0]["base_url"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let bad = [
        (
            json!({"model": "", "engine": "simulator", "port": other}),
            "model",
        ),
        (
            json!({"model": "x", "engine": "simulator", "port": 0}),
            "port",
        ),
        (
            json!({"model": "x", "engine": "simulator", "port": port}),
            "port",
        ),
        (
            json!({"model": "x", "engine": "simulator", "port": engine_port}),
            "port",
        ),
        (
            json!({"model": "x", "engine": "tgi", "port": other}),
            "engine",
        ),
        (
            json!({"model": "x", "engine": "vllm", "port": other}),
            "model_path",
        ),
        (
            json!({"model": "x", "engine": "simulator", "port": "8100"}),
            "port",
        ),
    ];
    for (body, field) in bad {
        let (code, e) = call(
            reqwest::Method::PUT,
            "/api/v1/tasks/t-2",
            Some(body.clone()),
        )
        .await;
        assert_eq!(code, 400, "{body}: {e}");
        let detail = e["detail"].as_str().unwrap();
        assert!(detail.contains(field), "{body}: {detail}");
    }
    let (code, e) = call(
        reqwest::Method::PUT,
        "/api/v1/tasks/t-1",
        Some(launch("m1", port)),
    )
    .await;
    assert_eq!(code, 202, "t-1 unchanged by the refused launches: {e}");
    let (code, list) = call(reqwest::Method::GET, "/api/v1/tasks", None).await;
    assert_eq!(code, 200);
    assert_eq!(
        list["tasks"].as_array().unwrap().len(),
        1,
        "nothing created: {list}"
    );

    let (code, _) = call(reqwest::Method::GET, "/api/v1/tasks/nope", None).await;
    assert_eq!(code, 404);
    let (code, e) = call(reqwest::Method::POST, "/api/v1/tasks/nope/sleep", None).await;
    assert_eq!(code, 404, "{e}");
    let (code, body) = call(reqwest::Method::DELETE, "/api/v1/tasks/nope", None).await;
    assert_eq!(code, 200);
    assert_eq!(body["stopped"], false);
    let (code, body) = call(reqwest::Method::DELETE, "/api/v1/tasks/t-1", None).await;
    assert_eq!(code, 200);
    assert_eq!(body["stopped"], true);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn a_sleeping_instance_is_woken_by_a_request_and_delete_stops_it() {
    let node = Node::start(quick_config()).await;
    let port = free_port();
    assert_eq!(node.put_task("t-s", &launch("sleepy", port)).await.0, 202);
    node.wait_task("t-s", "running").await;
    assert_eq!(chat(&node, "sleepy").await.0, 200);

    let (code, t) = node.post("/api/v1/tasks/t-s/sleep", json!({})).await;
    assert_eq!(code, 202, "{t}");
    assert_eq!(t["state"], "sleeping");
    // The engine itself sleeps: it says so and refuses completions.
    eventually("the engine asleep", || async {
        let v: Value = client()
            .get(format!("http://127.0.0.1:{port}/is_sleeping"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (v["is_sleeping"] == true).then_some(())
    })
    .await;
    let direct = client()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .json(&json!({"model": "sleepy", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 503);
    let (code, t) = node.post("/api/v1/tasks/t-s/sleep", json!({})).await;
    assert_eq!((code, t["state"].as_str()), (202, Some("sleeping")));
    let state = node.state().await;
    assert_eq!(state["tasks"][0]["state"], "sleeping", "{state}");

    // A request for its model wakes it and is answered.
    let (code, answer) = chat(&node, "sleepy").await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["model"], "sleepy");
    let t = node.wait_task("t-s", "running").await;
    assert_eq!(t["in_flight"], 0);
    let state = node.state().await;
    assert_eq!(state["tasks"][0]["state"], "running", "{state}");
    let metrics = node
        .client
        .get(format!("{}/metrics", node.mgmt))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gonka_mlnode_task_wake_seconds_count 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("gonka_mlnode_task_instances{state=\"running\"} 1"),
        "{metrics}"
    );
    // Explicit sleep and wake through the API.
    assert_eq!(node.post("/api/v1/tasks/t-s/sleep", json!({})).await.0, 202);
    let (code, t) = node.post("/api/v1/tasks/t-s/wake", json!({})).await;
    assert_eq!(code, 202, "{t}");
    node.wait_task("t-s", "running").await;
    assert_eq!(chat(&node, "sleepy").await.0, 200);
    let (code, t) = node.post("/api/v1/tasks/t-s/wake", json!({})).await;
    assert_eq!((code, t["state"].as_str()), (202, Some("running")));

    let (code, body) = delete(&node, "t-s").await;
    assert_eq!((code, body["stopped"].as_bool()), (200, Some(true)));
    assert!(
        !answers(port).await,
        "port {port} still answers after DELETE"
    );
    assert_eq!(node.get("/api/v1/tasks/t-s").await.0, 404);
    // Its model is unknown again: the single-model path (no engine up) answers.
    assert_eq!(chat(&node, "sleepy").await.0, 503);
    node.stop().await.unwrap();
}

#[tokio::test]
async fn sleep_and_wake_of_a_starting_instance_are_conflicts_naming_both_states() {
    let mut config = quick_config();
    // The simulator takes this long to "load": the instance stays starting.
    config.simulator.load_time = Duration::from_secs(60);
    let node = Node::start(config).await;
    let port = free_port();
    assert_eq!(node.put_task("t-l", &launch("slow", port)).await.0, 202);
    let (code, e) = node.post("/api/v1/tasks/t-l/sleep", json!({})).await;
    assert_eq!(code, 409, "{e}");
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains("starting") && detail.contains("running"),
        "{detail}"
    );
    let (code, e) = node.post("/api/v1/tasks/t-l/wake", json!({})).await;
    assert_eq!(code, 409, "{e}");
    let detail = e["detail"].as_str().unwrap();
    assert!(
        detail.contains("starting") && detail.contains("sleeping"),
        "{detail}"
    );
    // DELETE cancels the start.
    assert_eq!(delete(&node, "t-l").await.0, 200);
    assert!(!answers(port).await);
    node.stop().await.unwrap();
}

/// `GET /health` of the engine on `port`: status and body.
async fn engine_health(port: u16) -> (u16, Value) {
    let r = client()
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn engine_args_ask_the_simulator_for_an_unhealthy_or_a_failing_engine() {
    let node = Node::start(quick_config()).await;
    // `--sim-unhealthy`: the instance runs and serves its model, but its /health answers 503.
    let port = free_port();
    let mut body = launch("sick", port);
    body["args"] = json!(["--sim-unhealthy"]);
    let (code, t) = node.put_task("t-sick", &body).await;
    assert_eq!(code, 202, "{t}");
    node.wait_task("t-sick", "running").await;
    let health = engine_health(port).await;
    assert_eq!(health, (503, json!({"status": "unhealthy"})));
    let (code, answer) = chat(&node, "sick").await;
    assert_eq!(code, 200, "{answer}");
    // The same fault through the simulator's control endpoint, and back.
    let faults = client()
        .put(format!("http://127.0.0.1:{port}/sim/faults"))
        .json(&json!({"unhealthy": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(faults.status(), 200);
    assert_eq!(engine_health(port).await, (200, json!({"status": "ok"})));

    // `--sim-fail-start`: the start fails with the engine's reason; nothing listens.
    let port = free_port();
    let mut body = launch("broken", port);
    body["args"] = json!(["--sim-fail-start"]);
    let (code, t) = node.put_task("t-broken", &body).await;
    assert_eq!(code, 202, "{t}");
    let t = node.wait_task("t-broken", "failed").await;
    let error = t["error"].as_str().unwrap();
    assert!(
        error.contains("exited at start") && error.contains("--sim-fail-start"),
        "{t}"
    );
    assert!(
        !answers(port).await,
        "a failed start left port {port} answering"
    );
    node.stop().await.unwrap();
}
