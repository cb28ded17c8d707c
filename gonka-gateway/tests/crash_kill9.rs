//! Durability of the `gonka-gateway` binary's admin API: `kill -9` while a 1,000-node batch upsert
//! and concurrent single upserts are in flight. After a restart on the same SQLite registry every
//! acknowledged node is present with exactly the configuration sent, the batch is all-or-nothing,
//! and no node is half-written (each stored node equals one configuration that was sent).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gonka_core::NodeConfig;
use serde_json::Value;

#[path = "common/gateway_process.rs"]
mod gateway_process;

use gateway_process::GatewayProcess;

/// Starts the binary on `db`; returns it and its admin base URL.
async fn spawn_gateway(db: &str) -> (GatewayProcess, String) {
    let gateway = GatewayProcess::spawn(db, &[]).await;
    let admin = gateway.admin.clone();
    (gateway, admin)
}
const MODEL: &str = "Qwen/Qwen3-32B-FP8";
const BATCH: usize = 1_000;
const WRITERS: usize = 4;

fn config(id: &str, host: &str, max_concurrent: u32) -> NodeConfig {
    NodeConfig::new(id, MODEL)
        .at(host, 5050, 8080)
        .max_concurrent(max_concurrent)
}

/// The fields a stored node must carry exactly as sent (node_num is assigned by the registry).
fn sent_form(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("node_num");
    v
}

async fn stored_nodes(http: &reqwest::Client, admin: &str) -> BTreeMap<String, Value> {
    let list: Value = http
        .get(format!("{admin}/admin/v1/nodes"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["node"]["id"].as_str().unwrap().to_owned(),
                sent_form(&r["node"]),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_nodes_survive_kill_9_during_batch_and_single_upserts() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // Every configuration ever sent, by id, and the ids whose write was acknowledged.
    let mut sent: BTreeMap<String, Value> = BTreeMap::new();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut batches: Vec<(Vec<String>, bool)> = Vec::new();

    for round in 0..3usize {
        let (mut child, admin) = spawn_gateway(&db).await;
        let acked_before = acked.lock().unwrap().len();

        let batch: Vec<NodeConfig> = (0..BATCH)
            .map(|i| {
                config(
                    &format!("b{round}-{i}"),
                    &format!("10.{round}.{}.{}", i / 250, i % 250),
                    2,
                )
            })
            .collect();
        for c in &batch {
            sent.insert(c.id.clone(), sent_form(&serde_json::to_value(c).unwrap()));
        }
        let batch_ids: Vec<String> = batch.iter().map(|c| c.id.clone()).collect();
        let batch_task = {
            let (http, url) = (http.clone(), format!("{admin}/admin/v1/nodes/batch"));
            tokio::spawn(async move {
                match http.post(url).json(&batch).send().await {
                    Ok(r) => r.status().as_u16() == 201,
                    Err(_) => false,
                }
            })
        };

        let singles: Vec<Vec<NodeConfig>> = (0..WRITERS)
            .map(|w| {
                (0..200)
                    .map(|k| {
                        config(
                            &format!("s{round}-{w}-{k}"),
                            &format!("172.{round}.{w}.{k}"),
                            3,
                        )
                    })
                    .collect()
            })
            .collect();
        for c in singles.iter().flatten() {
            sent.insert(c.id.clone(), sent_form(&serde_json::to_value(c).unwrap()));
        }
        let mut writers = Vec::new();
        for configs in singles {
            let (http, url, acked) = (
                http.clone(),
                format!("{admin}/admin/v1/nodes"),
                acked.clone(),
            );
            writers.push(tokio::spawn(async move {
                for c in configs {
                    match http.post(&url).json(&c).send().await {
                        Ok(r) if r.status() == 200 => acked.lock().unwrap().push(c.id.clone()),
                        Ok(r) => panic!("single upsert of {} answered {}", c.id, r.status()),
                        Err(_) => return, // the server is gone
                    }
                }
            }));
        }

        // Kill at a different moment each round: while the batch is likely still being written,
        // a little later, and once some single writes were acknowledged. The assertions below hold
        // whenever the kill lands.
        match round {
            0 => tokio::time::sleep(Duration::from_millis(20)).await,
            1 => tokio::time::sleep(Duration::from_millis(120)).await,
            _ => {
                for _ in 0..500 {
                    if acked.lock().unwrap().len() > acked_before + 5 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        child.child.start_kill().unwrap(); // SIGKILL
        child.child.wait().await.unwrap();
        let batch_acked = batch_task.await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
        batches.push((batch_ids, batch_acked));
    }

    let (_child, admin) = spawn_gateway(&db).await;
    let stored = stored_nodes(&http, &admin).await;
    let acked = acked.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "some writes were acknowledged before the kills"
    );
    for id in &acked {
        assert_eq!(
            stored.get(id),
            sent.get(id),
            "acknowledged node {id} lost or changed"
        );
    }
    for (id, node) in &stored {
        assert_eq!(
            Some(node),
            sent.get(id),
            "stored node {id} is not a configuration that was sent"
        );
    }
    for (round, (ids, was_acked)) in batches.iter().enumerate() {
        let present = ids.iter().filter(|id| stored.contains_key(*id)).count();
        assert!(
            present == 0 || present == ids.len(),
            "batch of round {round} half stored: {present} of {}",
            ids.len()
        );
        if *was_acked {
            assert_eq!(
                present,
                ids.len(),
                "acknowledged batch of round {round} lost"
            );
        }
        println!("round {round}: batch acknowledged={was_acked}, stored={present}");
    }
    println!(
        "{} single upserts acknowledged, {} nodes stored",
        acked.len(),
        stored.len()
    );
}
