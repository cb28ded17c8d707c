//! Node discovery through heartbeats: a real agent started with a gateway URL registers itself
//! through the admin API (with the admin token) and becomes routable without any manual
//! registration; when its heartbeats stop the node leaves the routable set; `/fleet/status`
//! shows it with its source and last heartbeat; the heartbeat route refuses bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{chat_body, client, eventually, start, test_config, MODEL};
use gonka_gateway::RunningGateway;
use gonka_mlnode::join::JoinSettings;
use gonka_mlnode::MlNodeConfig;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const ADMIN_TOKEN: &str = "admin-secret";

/// A gateway with the admin token set and health checks that, once passed, do not run again
/// for an hour: whatever makes a node routable or not afterwards is its heartbeats.
async fn gateway() -> RunningGateway {
    let mut config = test_config();
    config.admin_token = Some(ADMIN_TOKEN.into());
    config.health_interval = Duration::from_secs(3600);
    config.health_recovery_interval = Duration::from_secs(3600);
    start(config).await
}

/// A real agent (simulator engine serving [`MODEL`]) that joins `gateway` under `id`,
/// heartbeating every 100 ms; sending on (or dropping) the returned sender stops it.
async fn joining_agent(gateway: &RunningGateway, id: &str) -> oneshot::Sender<()> {
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let join = JoinSettings {
        token: Some(ADMIN_TOKEN.into()),
        node_id: Some(id.into()),
        interval: Duration::from_millis(100),
        max_concurrent: 4,
        ..JoinSettings::new(format!("http://{}", gateway.admin_addr.unwrap()))
    };
    let config = MlNodeConfig {
        model: Some(MODEL.into()),
        join: Some(join),
        ..MlNodeConfig::default()
    };
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(gonka_mlnode::run(config, mgmt, inference, async {
        let _ = rx.await;
    }));
    tx
}

async fn fleet_status(gateway: &RunningGateway) -> Value {
    client()
        .get(format!(
            "http://{}/fleet/status",
            gateway.admin_addr.unwrap()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn routable(gateway: &RunningGateway, id: &str) -> bool {
    gateway
        .pool
        .snapshot()
        .iter()
        .any(|s| s.view.id.as_ref() == id && s.view.routable())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_with_a_gateway_url_joins_by_itself_and_leaves_when_its_heartbeats_stop() {
    let gw = gateway().await;
    assert_eq!(gw.pool.node_count(), 0, "nothing registered by hand");
    let stop = joining_agent(&gw, "self-joined").await;

    // Its first health check (at registration) may make it routable before its first
    // heartbeat lands: wait for both.
    eventually("the agent's node is routable and heartbeating", || async {
        routable(&gw, "self-joined") && fleet_status(&gw).await["nodes"][0]["source"] == "heartbeat"
    })
    .await;
    let status = fleet_status(&gw).await;
    let node = &status["nodes"][0];
    assert_eq!(node["id"], "self-joined", "{status}");
    assert_eq!(node["source"], "heartbeat");
    assert_eq!(node["host"], "127.0.0.1");
    assert_eq!(node["max_concurrent"], 4);
    assert!(node["last_heartbeat_ms"].as_u64().unwrap() > 0, "{node}");
    assert_eq!(status["routable_nodes"], 1);

    // Requests route to it.
    let r = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The agent stops: no more heartbeats, and no health check is due for an hour.
    stop.send(()).unwrap();
    eventually("the node left the routable set", || async {
        !routable(&gw, "self-joined")
    })
    .await;
    let status = fleet_status(&gw).await;
    assert_eq!(status["routable_nodes"], 0, "{status}");
    assert_eq!(
        status["nodes"][0]["id"], "self-joined",
        "kept registered (no --deregister-on-exit)"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_node_that_misses_heartbeats_comes_back_with_the_next_one() {
    let gw = gateway().await;
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    let http = client();
    // A node registered by hand at an address where nothing listens: only heartbeats make it
    // routable.
    let node = json!({
        "id": "beating", "host": "127.0.0.1", "inference_port": 1, "poc_port": 1,
        "models": {MODEL: {"args": []}}, "max_concurrent": 1
    });
    let r = http
        .put(format!("{admin}/admin/v1/nodes/beating"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&node)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    eventually("the node is in the pool", || async {
        gw.pool.node_count() == 1
    })
    .await;
    let state = json!({"state": "INFERENCE", "inference_healthy": true, "loaded_model": MODEL});
    let beat = || async {
        http.post(format!(
            "{admin}/fleet/nodes/beating/heartbeat?interval_ms=50"
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&state)
        .send()
        .await
        .unwrap()
    };
    let r = beat().await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in_ms"], 150, "3 missed intervals of 50 ms");
    // The node's first health check (it fails: nothing listens there) may land after a
    // heartbeat; once it is done, a heartbeat makes the node routable.
    eventually("a heartbeat makes the node routable", || async {
        beat().await.status() == 200 && routable(&gw, "beating")
    })
    .await;
    eventually("missed heartbeats take it out", || async {
        !routable(&gw, "beating")
    })
    .await;
    assert_eq!(beat().await.status(), 200);
    assert!(
        routable(&gw, "beating"),
        "the next heartbeat brings it back"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn the_heartbeat_route_needs_the_token_a_known_node_and_a_state_body() {
    let gw = gateway().await;
    let url = format!(
        "http://{}/fleet/nodes/ghost/heartbeat",
        gw.admin_addr.unwrap()
    );
    let http = client();
    let state = json!({"state": "INFERENCE"});

    let r = http.post(&url).json(&state).send().await.unwrap();
    assert_eq!(r.status(), 401, "no token");
    let r = http
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .header("origin", "https://evil.example")
        .json(&state)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "cross-site");

    let r = http
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&state)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown node \"ghost\""),
        "{body}"
    );

    let r = http
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("/api/v1/state"),
        "{body}"
    );
    assert_eq!(gw.pool.node_count(), 0, "nothing registered by a heartbeat");
    gw.shutdown().await;
}
