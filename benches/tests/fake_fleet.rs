#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `fake-fleet` binary answers like N healthy ML nodes, and a real gateway registers them
//! through the admin batch API (from the file the fleet writes) and routes to every one.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// A running `fake-fleet` process, killed on drop.
struct Fleet {
    child: Child,
    /// The JSON line it printed: host, model, nodes (id, poc_port, inference_port).
    line: Value,
    /// The admin batch body it wrote.
    batch: String,
    _dir: TempDir,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the target dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_fleet(nodes: u32, model: &str) -> Fleet {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("fake-fleet-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = TempDir(dir);
    let batch_file = dir.0.join("batch.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-fleet"))
        .args([
            "--nodes",
            &nodes.to_string(),
            "--model",
            model,
            "--threads",
            "1",
        ])
        .arg("--batch-file")
        .arg(&batch_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    // The first stdout line comes once every port is bound; read it on a thread so a fleet that
    // never prints fails the test after a bounded wait instead of hanging it.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            panic!("fake-fleet printed no port line within 30 s");
        }
    };
    let line: Value = serde_json::from_str(&line).expect("the port line is JSON");
    let batch = std::fs::read_to_string(&batch_file).unwrap();
    Fleet {
        child,
        line,
        batch,
        _dir: dir,
    }
}

fn nodes(fleet: &Fleet) -> Vec<(String, u16, u16)> {
    fleet.line["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_owned(),
                u16::try_from(n["poc_port"].as_u64().unwrap()).unwrap(),
                u16::try_from(n["inference_port"].as_u64().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn chat(model: &str, stream: bool) -> Value {
    serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn every_node_of_the_fleet_answers_management_and_inference_like_a_healthy_ml_node() {
    let model = gonka_benches::MODEL;
    let fleet = start_fleet(3, model);
    assert_eq!(fleet.line["host"], "127.0.0.1");
    let listed = nodes(&fleet);
    assert_eq!(listed.len(), 3);
    let ports: BTreeSet<u16> = listed.iter().flat_map(|n| [n.1, n.2]).collect();
    assert_eq!(
        ports.len(),
        6,
        "every node has its own two ports: {listed:?}"
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for (id, mgmt, inference) in &listed {
        let mgmt = format!("http://127.0.0.1:{mgmt}");
        let inference = format!("http://127.0.0.1:{inference}");
        let health = client.get(format!("{mgmt}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200, "{id} /health");
        let state: Value = client
            .get(format!("{mgmt}/api/v1/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(state["state"], "INFERENCE", "{id}: {state}");
        assert_eq!(state["loaded_model"], model);
        assert_eq!(state["inference_healthy"], true);
        let devices: Value = client
            .get(format!("{mgmt}/api/v1/gpu/devices"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(devices, serde_json::json!({"devices": [], "count": 0}));

        let r = client
            .post(format!("{inference}/v1/chat/completions"))
            .json(&chat(model, false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], model);
        assert_eq!(body["system_fingerprint"], id.as_str());
        assert_eq!(
            body["choices"][0]["message"]["content"],
            "tok0 tok1 tok2 tok3 "
        );

        let r = client
            .post(format!("{inference}/v1/chat/completions"))
            .json(&chat(model, true))
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let text = r.text().await.unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        assert_eq!(
            text.matches("\"finish_reason\":\"stop\"").count(),
            1,
            "{text}"
        );

        // The two ports play different halves of the node, like a real ML node's 8080 and 5000.
        let wrong = client
            .get(format!("{inference}/api/v1/state"))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 404);
        let wrong = client
            .post(format!("{mgmt}/v1/chat/completions"))
            .json(&chat(model, false))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 404);
    }
    let bad = client
        .post(format!(
            "http://127.0.0.1:{}/v1/chat/completions",
            listed[0].2
        ))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let message: Value = bad.json().await.unwrap();
    assert!(message["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not JSON"));

    // The batch file registers exactly these nodes and passes the registry's validation.
    let batch: Value = serde_json::from_str(&fleet.batch).unwrap();
    let (valid, errors) =
        gonka_core::validate_batch(&batch, &gonka_core::GovernanceModels::default()).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    let registered: Vec<(String, u16, u16)> = valid
        .into_iter()
        .map(|(_, c)| (c.id, c.poc_port, c.inference_port))
        .collect();
    assert_eq!(registered, listed);
}

#[tokio::test]
async fn the_fleet_counts_the_completions_each_node_answered() {
    let model = gonka_benches::MODEL;
    let fleet = start_fleet(4, model);
    let listed = nodes(&fleet);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let counts = |mgmt: u16| {
        let client = client.clone();
        async move {
            let r = client
                .get(format!("http://127.0.0.1:{mgmt}/fleet/counts"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let before = counts(listed[0].1).await;
    assert_eq!(
        before,
        serde_json::json!({"nodes": 4, "nodes_hit": 0, "requests": 0,
            "min_per_node": 0, "max_per_node": 0})
    );
    // Node 0 answers three completions (one streamed), node 2 one; nodes 1 and 3 none.
    for (node, stream) in [(0, false), (0, true), (0, false), (2, false)] {
        let r = client
            .post(format!(
                "http://127.0.0.1:{}/v1/chat/completions",
                listed[node].2
            ))
            .json(&chat(model, stream))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    // Health checks and other management calls are not completions.
    client
        .get(format!("http://127.0.0.1:{}/api/v1/state", listed[1].1))
        .send()
        .await
        .unwrap();
    // Every management port answers the fleet-wide totals.
    for (_, mgmt, _) in &listed {
        assert_eq!(
            counts(*mgmt).await,
            serde_json::json!({"nodes": 4, "nodes_hit": 2, "requests": 4,
                "min_per_node": 0, "max_per_node": 3})
        );
    }
}

#[tokio::test]
async fn a_gateway_given_the_fleets_batch_file_routes_to_every_node() {
    let model = gonka_benches::MODEL;
    let fleet = start_fleet(3, model);
    let expected: BTreeSet<String> = nodes(&fleet).into_iter().map(|n| n.0).collect();

    let mut config = gonka_gateway::GatewayConfig::new(Arc::new(gonka_core::MemoryRegistry::new()));
    config.scheduler = Arc::new(gonka_gateway::schedule::RoundRobin::default());
    config.health_interval = Duration::from_millis(100);
    config.queue_timeout = Duration::from_secs(5);
    config.drain_timeout = Duration::from_secs(2);
    let listeners = gonka_gateway::Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let gw = gonka_gateway::start(config, listeners).unwrap();
    let public = format!("http://{}", gw.public_addr);
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let r = client
        .post(format!("{admin}/admin/v1/nodes/batch"))
        .header("content-type", "application/json")
        .body(fleet.batch.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    let mut seen = BTreeSet::new();
    for _ in 0..300 {
        let r = client
            .post(format!("{public}/v1/chat/completions"))
            .json(&chat(model, false))
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            let body: Value = r.json().await.unwrap();
            seen.insert(body["system_fingerprint"].as_str().unwrap().to_owned());
            if seen == expected {
                break;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(seen, expected, "the gateway did not route to every node");
    gw.shutdown().await;
}
