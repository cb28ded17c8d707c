//! Conformance suites that every implementation of a core trait runs (feature `testing`).
//!
//! ```no_run
//! // In a backend's tests: one line runs the whole contract.
//! # async fn demo() {
//! gonka_core::testing::registry_suite(gonka_core::MemoryRegistry::new()).await;
//! # }
//! ```
//!
//! Suites: [`registry_suite`] ([`NodeRegistry`]; it starts by deleting every node),
//! [`scheduler_suite`] ([`crate::Scheduler`]), [`backend_suite`] ([`crate::InferenceBackend`]),
//! [`verifier_suite`] ([`crate::PoCVerifier`]), [`deployment_suite`]
//! ([`crate::deploy::store::DeploymentStore`]), [`epoch_source_suite`]
//! ([`crate::PocEpochSource`]) and [`trace_store_suite`] ([`crate::TraceStore`]), each also
//! available check by check. A suite panics with a message naming the broken rule.
//! [`read_until_closed`] checks that a server behind [`crate::server`]'s read timeouts cuts a
//! stalled client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backend;
pub mod deployment;
mod epoch;
pub mod scheduler;
mod stalled;
pub mod traces;
mod verifier;

pub use deployment::deployment_suite;
pub use epoch::{
    epoch_source_block_hash_is_chain_hex, epoch_source_epochs_have_distinct_hashes,
    epoch_source_never_goes_back, epoch_source_stage_params_match_the_stage, epoch_source_suite,
    EpochSourceObservation,
};
pub use scheduler::scheduler_suite;
pub use stalled::read_until_closed;
pub use traces::{trace_store_suite, trace_store_throughput};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::Receiver;

use crate::{Error, NodeConfig, NodeRegistry, NodeStatus, RegistryEvent, StatusUpdate};

pub use backend::{
    backend_restarts_after_stop, backend_start_makes_it_ready_and_serving,
    backend_start_of_another_model_is_busy, backend_start_of_the_running_model_is_a_no_op,
    backend_starts_stopped, backend_stop_is_idempotent, backend_stop_releases_everything,
    backend_suite, launch_spec, BACKEND_MODEL,
};
pub use verifier::{
    verifier_accepts_honest_artifacts,
    verifier_counts_malformed_and_duplicated_artifacts_as_mismatches, verifier_is_deterministic,
    verifier_is_inconclusive_without_artifacts, verifier_refuses_another_model,
    verifier_refuses_out_of_range_params, verifier_rejects_tampered_artifacts, verifier_suite,
    VerifierFixture,
};

/// A governance model used by the suites.
pub const MODEL: &str = "Qwen/Qwen3-32B-FP8";

/// A node `id` on host `h-{id}` with ports 5050/8080, serving [`MODEL`], max_concurrent 4.
pub fn node(id: &str) -> NodeConfig {
    NodeConfig::new(id, MODEL)
        .at(format!("h-{id}"), 5050, 8080)
        .max_concurrent(4)
}

/// Runs the whole [`NodeRegistry`] contract against `registry`.
pub async fn registry_suite<R: NodeRegistry>(registry: R) {
    let r: Arc<dyn NodeRegistry> = Arc::new(registry);
    upsert_assigns_node_num_and_keeps_it(&r).await;
    upsert_keeps_state(&r).await;
    endpoint_conflicts_are_rejected(&r).await;
    endpoint_conflicts_use_the_canonical_address(&r).await;
    batch_partial_failure_stores_the_valid_ones(&r).await;
    enable_disable(&r).await;
    update_status(&r).await;
    delete_returns_the_node(&r).await;
    list_is_in_registration_order(&r).await;
    change_feed_sees_every_change(&r).await;
    concurrent_writers(&r).await;
    markers_are_recorded_and_outlive_the_nodes(&r).await;
    clear(&r).await;
}

/// A marker reads as set once recorded (recording it twice is fine) and survives deleting every
/// node; a marker never recorded reads as unset.
async fn markers_are_recorded_and_outlive_the_nodes(r: &Arc<dyn NodeRegistry>) {
    assert!(
        !r.marker("testing:never-recorded").await.unwrap(),
        "a marker never recorded reads as set"
    );
    r.set_marker("testing:recorded").await.unwrap();
    r.set_marker("testing:recorded").await.unwrap();
    assert!(
        r.marker("testing:recorded").await.unwrap(),
        "a recorded marker reads as unset"
    );
    clear(r).await;
    assert!(
        r.marker("testing:recorded").await.unwrap(),
        "deleting the nodes cleared a marker"
    );
}

async fn clear(r: &Arc<dyn NodeRegistry>) {
    for rec in r.list().await.unwrap() {
        r.delete(&rec.node.id).await.unwrap();
    }
    assert!(
        r.list().await.unwrap().is_empty(),
        "registry not empty after deleting all"
    );
}

async fn upsert_assigns_node_num_and_keeps_it(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    let mut input = node("a");
    input.node_num = 999;
    let a = r.upsert(input).await.unwrap();
    assert!(a.node.node_num >= 1, "node_num must be assigned (>= 1)");
    assert_ne!(a.node.node_num, 999, "input node_num must be ignored");
    assert_eq!(a.state.current_status, NodeStatus::Unknown);
    assert_eq!(a.state.intended_status, NodeStatus::Inference);
    assert!(a.state.admin_state.enabled, "new node must be enabled");
    let b = r.upsert(node("b")).await.unwrap();
    assert_ne!(a.node.node_num, b.node.node_num, "node_num must be unique");
    let a2 = r.upsert(node("a").max_concurrent(800)).await.unwrap();
    assert_eq!(
        a2.node.node_num, a.node.node_num,
        "upsert must keep node_num"
    );
    assert_eq!(a2.node.max_concurrent, 800);
    assert_eq!(
        r.get("a").await.unwrap().node,
        a2.node,
        "get must return the stored config"
    );
    assert!(matches!(r.get("zzz").await, Err(Error::NotFound { id }) if id == "zzz"));
}

async fn upsert_keeps_state(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    r.upsert(node("a")).await.unwrap();
    r.set_enabled("a", false, 5).await.unwrap();
    let a = r.upsert(node("a").max_concurrent(9)).await.unwrap();
    assert!(
        !a.state.admin_state.enabled,
        "upsert must not re-enable a disabled node"
    );
    assert_eq!(a.state.admin_state.epoch, 5);
}

async fn endpoint_conflicts_are_rejected(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    r.upsert(node("a")).await.unwrap();
    let clash = node("b").at("http://h-a/", 5050, 9999);
    match r.upsert(clash).await {
        Err(Error::Conflict(e)) => {
            assert_eq!(e.field, "inference_port");
            assert!(
                e.message.contains("'a'"),
                "conflict must name the other node: {e}"
            );
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert!(
        matches!(r.get("b").await, Err(Error::NotFound { .. })),
        "conflicting node stored"
    );
    // Moving a node onto its own endpoints again is fine.
    r.upsert(node("a")).await.unwrap();
}

/// Another spelling of a stored node's address (trailing dot, scheme, case, IPv6 written out)
/// is the same endpoint, singly and in a batch; the error names the canonical address.
async fn endpoint_conflicts_use_the_canonical_address(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    r.upsert(node("v4").at("10.0.0.21", 5050, 8080))
        .await
        .unwrap();
    r.upsert(node("v6").at("[::1]", 5050, 8080)).await.unwrap();
    r.upsert(node("name").at("Node-A.example", 5050, 8080))
        .await
        .unwrap();
    for (id, host, canonical) in [
        ("dot", "10.0.0.21.", "10.0.0.21"),
        ("scheme", "HTTP://10.0.0.21./", "10.0.0.21"),
        ("v6long", "[0:0:0:0:0:0:0:1]", "[::1]"),
        ("case", "node-a.EXAMPLE.", "node-a.example"),
    ] {
        match r.upsert(node(id).at(host, 5050, 9999)).await {
            Err(Error::Conflict(e)) => assert!(
                e.message.contains(&format!("{canonical}:5050")),
                "the conflict names the canonical address {canonical}: {e}"
            ),
            other => panic!("{host} must conflict with {canonical}, got {other:?}"),
        }
    }
    let results = r
        .upsert_batch(vec![
            node("b1").at("10.0.0.22", 5050, 8080),
            node("b2").at("10.0.0.22.", 8080, 7000),
            node("b3").at("10.0.0.21.", 8080, 7000),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(Error::Conflict(_))),
        "an earlier element under another spelling: {:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(Error::Conflict(_))),
        "a stored node under another spelling: {:?}",
        results[2]
    );
    assert_eq!(r.list().await.unwrap().len(), 4);
}

async fn batch_partial_failure_stores_the_valid_ones(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    r.upsert(node("x")).await.unwrap();
    let batch = vec![
        node("b1"),
        node("b2").at("h-x", 8080, 7000),
        node("b3"),
        node("b4").at("h-b1", 1, 5050),
    ];
    let results = r.upsert_batch(batch).await.unwrap();
    assert_eq!(results.len(), 4, "one result per element");
    assert!(results[0].is_ok());
    assert!(
        matches!(results[1], Err(Error::Conflict(_))),
        "conflict with stored node"
    );
    assert!(results[2].is_ok());
    assert!(
        matches!(results[3], Err(Error::Conflict(_))),
        "conflict with earlier element"
    );
    let ids: Vec<String> = r
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node.id)
        .collect();
    assert_eq!(ids, vec!["x", "b1", "b3"]);
    // A large batch in one call.
    let big: Vec<NodeConfig> = (0..2000).map(|i| node(&format!("big{i}"))).collect();
    let results = r.upsert_batch(big).await.unwrap();
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(r.list().await.unwrap().len(), 2003);
}

async fn enable_disable(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    r.upsert(node("a")).await.unwrap();
    let d = r.set_enabled("a", false, 7).await.unwrap();
    assert!(!d.state.admin_state.enabled);
    assert_eq!(d.state.admin_state.epoch, 7);
    assert_eq!(
        d.node,
        r.get("a").await.unwrap().node,
        "disable must not touch config"
    );
    assert!(
        !r.get("a").await.unwrap().state.admin_state.enabled,
        "disable not stored"
    );
    let e = r.set_enabled("a", true, 8).await.unwrap();
    assert!(e.state.admin_state.enabled);
    assert!(matches!(
        r.set_enabled("nope", true, 1).await,
        Err(Error::NotFound { .. })
    ));
}

async fn update_status(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    let before = r.upsert(node("a")).await.unwrap();
    let update = StatusUpdate {
        current_status: Some(NodeStatus::Failed),
        failure_reason: Some("engine exited with code 1".into()),
        ..StatusUpdate::default()
    };
    let after = r.update_status("a", update).await.unwrap();
    assert_eq!(after.state.current_status, NodeStatus::Failed);
    assert_eq!(after.state.failure_reason, "engine exited with code 1");
    assert_eq!(after.state.intended_status, before.state.intended_status);
    assert!(after.state.status_timestamp >= before.state.status_timestamp);
    assert_eq!(
        r.get("a").await.unwrap().state,
        after.state,
        "status not stored"
    );
    assert!(matches!(
        r.update_status("nope", StatusUpdate::default()).await,
        Err(Error::NotFound { .. })
    ));
}

async fn delete_returns_the_node(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    let a = r.upsert(node("a")).await.unwrap();
    let deleted = r.delete("a").await.unwrap();
    assert_eq!(deleted.node, a.node, "delete must return the deleted node");
    assert!(matches!(r.get("a").await, Err(Error::NotFound { .. })));
    assert!(matches!(r.delete("a").await, Err(Error::NotFound { .. })));
    let again = r.upsert(node("a")).await.unwrap();
    assert!(
        again.node.node_num > a.node.node_num,
        "node_num must not be reused"
    );
    // The endpoint of a deleted node is free again.
    r.delete("a").await.unwrap();
    r.upsert(node("c").at("h-a", 5050, 8080)).await.unwrap();
}

async fn list_is_in_registration_order(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    for id in ["z", "a", "m"] {
        r.upsert(node(id)).await.unwrap();
    }
    r.upsert(node("z").max_concurrent(2)).await.unwrap();
    let ids: Vec<String> = r
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node.id)
        .collect();
    assert_eq!(ids, vec!["z", "a", "m"], "list must be in node_num order");
}

async fn next_event(rx: &mut Receiver<RegistryEvent>) -> RegistryEvent {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no change event within 5 s")
        .expect("change feed closed or lagged")
}

async fn change_feed_sees_every_change(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    let mut rx = r.watch();
    r.upsert(node("a")).await.unwrap();
    r.set_enabled("a", false, 1).await.unwrap();
    r.update_status(
        "a",
        StatusUpdate {
            current_status: Some(NodeStatus::Inference),
            ..StatusUpdate::default()
        },
    )
    .await
    .unwrap();
    r.upsert_batch(vec![node("b")]).await.unwrap();
    r.delete("a").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        match next_event(&mut rx).await {
            RegistryEvent::Upserted(rec) => seen.push(format!(
                "up:{}:{}:{}",
                rec.node.id,
                rec.state.admin_state.enabled,
                rec.state.current_status.as_str()
            )),
            RegistryEvent::Deleted(rec) => seen.push(format!("del:{}", rec.node.id)),
        }
    }
    assert_eq!(
        seen,
        vec![
            "up:a:true:UNKNOWN",
            "up:a:false:UNKNOWN",
            "up:a:false:INFERENCE",
            "up:b:true:UNKNOWN",
            "del:a",
        ]
    );
}

async fn concurrent_writers(r: &Arc<dyn NodeRegistry>) {
    clear(r).await;
    let mut tasks = Vec::new();
    for t in 0..16 {
        let r = Arc::clone(r);
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                r.upsert(node(&format!("t{t}-{i}"))).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = r.list().await.unwrap();
    assert_eq!(all.len(), 160, "every concurrent upsert must be stored");
    let nums: HashSet<u64> = all.iter().map(|n| n.node.node_num).collect();
    assert_eq!(nums.len(), 160, "node_num must be unique under concurrency");
    // Racing writers for one endpoint: exactly one wins.
    let mut racers = Vec::new();
    for i in 0..8 {
        let r = Arc::clone(r);
        racers.push(tokio::spawn(async move {
            r.upsert(node(&format!("race{i}")).at("contended", 1000, 1001))
                .await
        }));
    }
    let mut wins = 0;
    for t in racers {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::Conflict(_)) => {}
            Err(e) => panic!("unexpected error from racing upsert: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one writer may take a contended endpoint");
}
