//! Durability: every acknowledged write survives `kill -9` of the real binary right after the
//! acknowledgement, and no node is half-written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::bin::spawn_admin;
use common::{numbered_node, seed_node1, seed_node_235b};
use serde_json::{json, Value};

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut rb = client.request(method, url);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let response = rb.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let client = reqwest::Client::new();
    // What the server acknowledged, by id: the config it answered.
    let mut acked: BTreeMap<String, Value> = BTreeMap::new();
    let mut disabled: Vec<String> = Vec::new();

    for round in 0..2usize {
        let admin = spawn_admin(&db, &[]);
        let base = admin.base();
        // Single writes.
        let mut one = seed_node1();
        one["id"] = json!(format!("single-{round}"));
        one["host"] = json!(format!("10.9.9.{round}"));
        let (status, body) = send(
            &client,
            reqwest::Method::POST,
            format!("{base}/admin/v1/nodes"),
            Some(&one),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        acked.insert(body["id"].as_str().unwrap().to_owned(), body);
        let mut put = seed_node_235b();
        put["host"] = json!(format!("10.8.8.{round}"));
        put["max_concurrent"] = json!(100 + round);
        let url = format!("{base}/admin/v1/nodes/put-{round}");
        put.as_object_mut().unwrap().remove("id");
        let (status, body) = send(&client, reqwest::Method::PUT, url, Some(&put)).await;
        assert_eq!(status, 200, "{body}");
        acked.insert(body["id"].as_str().unwrap().to_owned(), body);
        let url = format!("{base}/admin/v1/nodes/put-{round}/disable");
        let (status, _) = send(&client, reqwest::Method::POST, url, None).await;
        assert_eq!(status, 200);
        disabled.push(format!("put-{round}"));
        // A 1,000-node batch, then kill -9 right after its acknowledgement.
        let batch: Vec<Value> = (round * 1000..(round + 1) * 1000)
            .map(numbered_node)
            .collect();
        let (status, body) = send(
            &client,
            reqwest::Method::POST,
            format!("{base}/admin/v1/nodes/batch"),
            Some(&json!(batch)),
        )
        .await;
        admin.kill9();
        assert_eq!(status, 201);
        for node in body.as_array().unwrap() {
            acked.insert(node["id"].as_str().unwrap().to_owned(), node.clone());
        }
    }

    let admin = spawn_admin(&db, &[]);
    let (status, list) = send(
        &client,
        reqwest::Method::GET,
        format!("{}/admin/v1/nodes", admin.base()),
        None,
    )
    .await;
    assert_eq!(status, 200, "every row must decode: {list}");
    let stored: BTreeMap<String, Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["node"]["id"].as_str().unwrap().to_owned(), r.clone()))
        .collect();
    assert_eq!(
        stored.len(),
        acked.len(),
        "every acknowledged node, nothing else"
    );
    for (id, config) in &acked {
        let record = stored
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged node {id} lost"));
        assert_eq!(
            &record["node"], config,
            "node {id} differs from what was acknowledged"
        );
        let enabled = record["state"]["admin_state"]["enabled"].as_bool().unwrap();
        assert_eq!(enabled, !disabled.contains(id), "admin_state of {id}");
    }
    let nums: std::collections::HashSet<u64> = stored
        .values()
        .map(|r| r["node"]["node_num"].as_u64().unwrap())
        .collect();
    assert_eq!(nums.len(), stored.len(), "node_num unique after crashes");
}
