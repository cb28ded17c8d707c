//! Every single-node row of the admin API table, through HTTP, with the exact bodies of seed 000.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use gonka_admin::AdminOptions;
use gonka_core::{EpochSource, ManualEpoch, MemoryRegistry};
use serde_json::json;

#[tokio::test]
async fn create_answers_200_with_the_stored_node_and_its_node_num() {
    let s = Server::start().await;
    let a = call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, stored(seed_node1(), 1));
    let b = call(&s, "POST", "/admin/v1/nodes", Some(&seed_node_235b())).await;
    assert_eq!(b.status, 200, "{}", b.text);
    assert_eq!(b.body, stored(seed_node_235b(), 2));
}

#[tokio::test]
async fn list_answers_node_and_state_in_registration_order() {
    let s = Server::start().await;
    let empty = call(&s, "GET", "/admin/v1/nodes", None).await;
    assert_eq!((empty.status, empty.body.clone()), (200, json!([])));
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node_235b())).await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    let a = call(&s, "GET", "/admin/v1/nodes", None).await;
    assert_eq!(a.status, 200);
    let list = a.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["node"], stored(seed_node_235b(), 1));
    assert_eq!(list[1]["node"], stored(seed_node1(), 2));
    let state = &list[0]["state"];
    assert_eq!(state["intended_status"], "INFERENCE");
    assert_eq!(state["current_status"], "UNKNOWN");
    assert_eq!(state["poc_current_status"], "IDLE");
    assert_eq!(state["admin_state"], json!({"enabled": true, "epoch": 0}));
    assert!(state["status_timestamp"].is_string());
}

#[tokio::test]
async fn posting_an_existing_id_updates_it_and_keeps_node_num() {
    let s = Server::start().await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node_235b())).await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    let mut changed = seed_node1();
    changed["max_concurrent"] = json!(800);
    let a = call(&s, "POST", "/admin/v1/nodes", Some(&changed)).await;
    assert_eq!((a.status, a.body), (200, stored(changed, 2)));
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn put_with_the_seed_example_updates_the_node() {
    let s = Server::start().await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    let update = json!({
        "id": "node1",
        "host": "http://10.0.0.21",
        "inference_port": 5050,
        "poc_port": 8080,
        "max_concurrent": 800,
        "models": {"Qwen/Qwen3-32B-FP8": {"args": ["--tensor-parallel-size", "4"]}}
    });
    let a = call(&s, "PUT", "/admin/v1/nodes/node1", Some(&update)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body, stored(update.clone(), 1));
    let got = call(&s, "GET", "/admin/v1/nodes/node1", None).await;
    assert_eq!(got.body["node"], stored(update, 1));
}

#[tokio::test]
async fn put_without_body_id_takes_the_path_id_and_creates() {
    let s = Server::start().await;
    let mut body = seed_node1();
    body.as_object_mut().unwrap().remove("id");
    let a = call(&s, "PUT", "/admin/v1/nodes/fresh", Some(&body)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["id"], "fresh");
    assert_eq!(a.body["node_num"], 1);
}

#[tokio::test]
async fn put_with_a_different_body_id_answers_400_naming_id() {
    let s = Server::start().await;
    let a = call(&s, "PUT", "/admin/v1/nodes/other", Some(&seed_node1())).await;
    assert_eq!(a.status, 400, "{}", a.text);
    let error = a.body["error"].as_str().unwrap();
    assert!(
        error.contains("\"node1\"") && error.contains("\"other\""),
        "{error}"
    );
    assert_eq!(a.body["fields"][0]["field"], "id");
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(list, json!([]), "nothing stored");
}

#[tokio::test]
async fn enable_and_disable_answer_the_seed_bodies_and_stamp_the_epoch() {
    let epoch = Arc::new(ManualEpoch::new(12));
    let options = AdminOptions {
        epoch: Arc::clone(&epoch) as Arc<dyn EpochSource>,
        ..AdminOptions::default()
    };
    let s = Server::start_with(Arc::new(MemoryRegistry::new()), options).await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    let d = call(&s, "POST", "/admin/v1/nodes/node1/disable", None).await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.body,
        json!({"message": "node disabled successfully", "node_id": "node1"})
    );
    let got = call(&s, "GET", "/admin/v1/nodes/node1", None).await.body;
    assert_eq!(
        got["state"]["admin_state"],
        json!({"enabled": false, "epoch": 12})
    );
    assert_eq!(got["node"], stored(seed_node1(), 1), "config untouched");
    epoch.advance();
    let e = call(&s, "POST", "/admin/v1/nodes/node1/enable", None).await;
    assert_eq!(e.status, 200);
    assert_eq!(
        e.body,
        json!({"message": "node enabled successfully", "node_id": "node1"})
    );
    let got = call(&s, "GET", "/admin/v1/nodes/node1", None).await.body;
    assert_eq!(
        got["state"]["admin_state"],
        json!({"enabled": true, "epoch": 13})
    );
}

#[tokio::test]
async fn enable_disable_get_and_delete_of_unknown_node_answer_404() {
    let s = Server::start().await;
    for (method, path) in [
        ("POST", "/admin/v1/nodes/node9/enable"),
        ("POST", "/admin/v1/nodes/node9/disable"),
        ("GET", "/admin/v1/nodes/node9"),
        ("DELETE", "/admin/v1/nodes/node9"),
    ] {
        let a = call(&s, method, path, None).await;
        assert_eq!(a.status, 404, "{method} {path}");
        assert_eq!(
            a.body,
            json!({"error": "node not found: node9"}),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn delete_answers_the_deleted_node_and_removes_it() {
    let s = Server::start().await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    let a = call(&s, "DELETE", "/admin/v1/nodes/node1", None).await;
    assert_eq!((a.status, a.body), (200, stored(seed_node1(), 1)));
    let list = call(&s, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(list, json!([]));
    let again = call(&s, "DELETE", "/admin/v1/nodes/node1", None).await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn model_outside_governance_answers_400() {
    let s = Server::start().await;
    let mut body = seed_node1();
    body["models"] = json!({"meta-llama/Llama-3-8B": {"args": []}});
    let a = call(&s, "POST", "/admin/v1/nodes", Some(&body)).await;
    assert_eq!(a.status, 400);
    let error = a.body["error"].as_str().unwrap();
    assert!(error.starts_with("validation failed: "), "{error}");
    assert!(error.contains("meta-llama/Llama-3-8B"), "{error}");
    assert_eq!(a.body["fields"][0]["field"], "models");
}

#[tokio::test]
async fn configured_governance_list_replaces_the_default() {
    let options = AdminOptions {
        governance: gonka_core::GovernanceModels::parse_list("acme/tiny"),
        ..AdminOptions::default()
    };
    let s = Server::start_with(Arc::new(MemoryRegistry::new()), options).await;
    let seed = call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    assert_eq!(seed.status, 400);
    let mut body = seed_node1();
    body["models"] = json!({"acme/tiny": {"args": []}});
    assert_eq!(
        call(&s, "POST", "/admin/v1/nodes", Some(&body))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn every_validation_problem_is_listed() {
    let s = Server::start().await;
    let body = json!({"id": "", "host": "", "inference_port": 0, "poc_port": 70000,
                      "max_concurrent": 0, "models": {}});
    let a = call(&s, "POST", "/admin/v1/nodes", Some(&body)).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body["error"],
        "validation failed: inference_port must be between 1 and 65535, got 0; \
         poc_port must be between 1 and 65535, got 70000; max_concurrent must be greater than 0, got 0; \
         node id is required and cannot be empty; host is required and cannot be empty; \
         at least one model must be specified"
    );
    let fields: Vec<&str> = a.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "inference_port",
            "poc_port",
            "max_concurrent",
            "id",
            "host",
            "models"
        ]
    );
}

#[tokio::test]
async fn unknown_field_answers_400_naming_it() {
    let s = Server::start().await;
    let mut body = seed_node1();
    body["gpu_count"] = json!(8);
    let a = call(&s, "POST", "/admin/v1/nodes", Some(&body)).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `gpu_count`"),
        "{}",
        a.text
    );
    assert_eq!(a.body["fields"][0]["field"], "gpu_count");
}

#[tokio::test]
async fn duplicate_host_and_port_answers_400_naming_the_other_node() {
    let s = Server::start().await;
    call(&s, "POST", "/admin/v1/nodes", Some(&seed_node1())).await;
    let mut clash = seed_node1();
    clash["id"] = json!("node7");
    clash["host"] = json!("http://10.0.0.21/");
    let a = call(&s, "POST", "/admin/v1/nodes", Some(&clash)).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(
        a.body["error"],
        "duplicate inference host+port combination: 10.0.0.21:5050 (already used by node 'node1')"
    );
    assert_eq!(a.body["fields"][0]["field"], "inference_port");
    let got = call(&s, "GET", "/admin/v1/nodes/node7", None).await;
    assert_eq!(got.status, 404, "conflicting node must not be stored");
}
