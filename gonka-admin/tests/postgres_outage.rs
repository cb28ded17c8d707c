//! `PostgresRegistry` while the database is unreachable: the admin API answers 503 with a clear
//! message and acknowledges nothing it did not store; writes work again once the database is
//! back, and the change feed catches up with what it missed.
//!
//! "Down" is a loopback forwarder in front of the test server that cuts every connection and
//! closes new ones at once (stopping the shared server would disturb concurrent tests).
//! Needs `GONKA_TEST_POSTGRES_URL`; without it each test prints `skipped: ...` and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod postgres_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{call, seed_node1, seed_node2, Server};
use gonka_admin::{AdminOptions, PostgresRegistry};
use gonka_core::testing::node;
use gonka_core::{NodeRegistry, RegistryEvent};
use postgres_support::{server_addr, with_address, Forwarder, TestDb};
use serde_json::json;

#[tokio::test]
async fn admin_writes_answer_503_while_the_database_is_down_and_work_again_after() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let fwd = Forwarder::start(server_addr(&db.url)).await;
    let registry = PostgresRegistry::connect(&with_address(&db.url, fwd.addr))
        .await
        .unwrap();
    let server = Server::start_with(Arc::new(registry), AdminOptions::default()).await;
    assert_eq!(
        call(&server, "POST", "/admin/v1/nodes", Some(&seed_node1()))
            .await
            .status,
        200
    );

    let ready = call(&server, "GET", "/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);

    fwd.down();
    // Readiness follows the database: 503 naming it while it is unreachable, liveness stays 200.
    let unready = call(&server, "GET", "/readyz", None).await;
    assert_eq!(unready.status, 503, "{}", unready.text);
    assert_eq!(unready.body["checks"]["registry"]["ok"], false);
    assert_eq!(call(&server, "GET", "/livez", None).await.status, 200);
    let refused = call(&server, "POST", "/admin/v1/nodes", Some(&seed_node2())).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    let message = refused.body["error"].as_str().unwrap();
    assert!(message.contains("PostgreSQL"), "{message}");
    assert!(message.contains("the change was not stored"), "{message}");
    let batch = call(
        &server,
        "POST",
        "/admin/v1/nodes/batch",
        Some(&json!([seed_node2()])),
    )
    .await;
    assert_eq!(batch.status, 503, "{}", batch.text);
    for (method, path) in [
        ("POST", "/admin/v1/nodes/node1/disable"),
        ("DELETE", "/admin/v1/nodes/node1"),
    ] {
        let a = call(&server, method, path, None).await;
        assert_eq!(a.status, 503, "{method} {path}: {}", a.text);
    }

    fwd.up();
    let ready = call(&server, "GET", "/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let mut node3 = seed_node2();
    node3["id"] = json!("node3");
    let ok = call(&server, "POST", "/admin/v1/nodes", Some(&node3)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // Only what was acknowledged is stored; the refused disable and delete did not happen.
    let direct = PostgresRegistry::connect(&db.url).await.unwrap();
    let stored: Vec<(String, bool)> = direct
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.node.id, r.state.admin_state.enabled))
        .collect();
    assert_eq!(
        stored,
        vec![("node1".to_owned(), true), ("node3".to_owned(), true)]
    );
    assert_eq!(
        ok.body["node_num"], 2,
        "a refused insert must not use a number"
    );
    server.stop().await;
    drop(direct);
    db.drop_db().await;
}

#[tokio::test]
async fn change_feed_catches_up_with_changes_made_while_it_was_disconnected() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let fwd = Forwarder::start(server_addr(&db.url)).await;
    let writer = PostgresRegistry::connect(&db.url).await.unwrap();
    writer.upsert(node("stays")).await.unwrap();
    writer.upsert(node("goes")).await.unwrap();
    let replica = PostgresRegistry::connect(&with_address(&db.url, fwd.addr))
        .await
        .unwrap();
    let mut feed = replica.watch();

    fwd.down();
    writer.delete("goes").await.unwrap();
    writer.upsert(node("new")).await.unwrap();
    writer.set_enabled("stays", false, 2).await.unwrap();
    // The replica noticed the cut: it tries to reconnect (and is refused) before the database
    // comes back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while fwd.refused() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replica never tried to reconnect within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    fwd.up();

    // After reconnecting, the replica re-lists: its feed ends up at the database's state.
    let mut view: HashMap<String, bool> = [("stays".to_owned(), true), ("goes".to_owned(), true)]
        .into_iter()
        .collect();
    let expected: HashMap<String, bool> = [("stays".to_owned(), false), ("new".to_owned(), true)]
        .into_iter()
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while view != expected {
        let event = tokio::time::timeout_at(deadline, feed.recv())
            .await
            .unwrap_or_else(|_| panic!("feed did not catch up within 30 s; view {view:?}"))
            .unwrap();
        match event {
            RegistryEvent::Upserted(r) => {
                view.insert(r.node.id, r.state.admin_state.enabled);
            }
            RegistryEvent::Deleted(r) => {
                view.remove(&r.node.id);
            }
            _ => {}
        }
    }
    drop((writer, replica));
    db.drop_db().await;
}
