//! `SqliteRegistry`: the conformance suite, and data surviving a server restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use gonka_admin::{AdminOptions, SqliteRegistry};
use gonka_core::{EpochSource, ManualEpoch};
use serde_json::json;

#[tokio::test]
async fn sqlite_registry_conforms() {
    gonka_core::testing::registry_suite(SqliteRegistry::in_temp_dir().await.unwrap()).await;
}

#[tokio::test]
async fn data_written_through_the_server_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("admin.db").display());
    let options = || AdminOptions {
        epoch: Arc::new(ManualEpoch::new(4)) as Arc<dyn EpochSource>,
        ..AdminOptions::default()
    };

    let first =
        Server::start_with(gonka_admin::open_registry(&url).await.unwrap(), options()).await;
    call(
        &first,
        "POST",
        "/admin/v1/nodes/batch",
        Some(&json!([seed_node1(), seed_node2()])),
    )
    .await;
    let mut big = seed_node_235b();
    big["host"] = json!("10.0.0.99");
    assert_eq!(
        call(&first, "POST", "/admin/v1/nodes", Some(&big))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&first, "DELETE", "/admin/v1/nodes/node-235b", None)
            .await
            .status,
        200
    );
    call(&first, "POST", "/admin/v1/nodes/node2/disable", None).await;
    let before = call(&first, "GET", "/admin/v1/nodes", None).await.body;
    first.stop().await;

    let second =
        Server::start_with(gonka_admin::open_registry(&url).await.unwrap(), options()).await;
    let after = call(&second, "GET", "/admin/v1/nodes", None).await.body;
    assert_eq!(after, before);
    assert_eq!(after[0]["node"], stored(seed_node1(), 1));
    assert_eq!(after[1]["node"], stored(seed_node2(), 2));
    assert_eq!(
        after[1]["state"]["admin_state"],
        json!({"enabled": false, "epoch": 4})
    );
    // node_num 3 went to the deleted node and is never handed out again.
    let mut n = big;
    n["id"] = json!("node4");
    let a = call(&second, "POST", "/admin/v1/nodes", Some(&n)).await;
    assert_eq!(a.body["node_num"], 4, "{}", a.text);
}
