//! `SqliteRegistry::list` answers from memory while the file's registry version stays put, and
//! shows every committed change once it moves: writes through another registry on the same file
//! (as the CLI beside the server), and changes made by hand in SQL (triggers bump the version).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use gonka_admin::SqliteRegistry;
use gonka_core::testing::node;
use gonka_core::{NodeRecord, NodeRegistry, NodeStatus, StatusUpdate};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

/// `id:max_concurrent:enabled:status` of every listed node, in list order.
async fn listed(r: &SqliteRegistry) -> Vec<String> {
    r.list().await.unwrap().iter().map(describe).collect()
}

fn describe(r: &NodeRecord) -> String {
    format!(
        "{}:{}:{}:{}",
        r.node.id,
        r.node.max_concurrent,
        r.state.admin_state.enabled,
        r.state.current_status.as_str()
    )
}

/// Runs `sql` on the file through a connection of its own (another process, as far as the
/// registries can tell).
async fn execute(path: &Path, sql: &str) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap();
    conn.execute(sql).await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_registry_with_a_cached_list_shows_every_write_committed_by_another_on_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = SqliteRegistry::open_path(&path).await.unwrap();
    let b = SqliteRegistry::open_path(&path).await.unwrap();
    assert!(listed(&b).await.is_empty());

    a.upsert(node("n1")).await.unwrap();
    assert_eq!(listed(&b).await, ["n1:4:true:UNKNOWN"]);
    assert_eq!(listed(&b).await, ["n1:4:true:UNKNOWN"]);

    a.upsert(node("n1").max_concurrent(9)).await.unwrap();
    assert_eq!(listed(&b).await, ["n1:9:true:UNKNOWN"]);

    a.set_enabled("n1", false, 3).await.unwrap();
    assert_eq!(listed(&b).await, ["n1:9:false:UNKNOWN"]);

    let inference = StatusUpdate {
        current_status: Some(NodeStatus::Inference),
        ..StatusUpdate::default()
    };
    a.update_status("n1", inference).await.unwrap();
    assert_eq!(listed(&b).await, ["n1:9:false:INFERENCE"]);

    a.upsert_batch(vec![node("n2"), node("n3")]).await.unwrap();
    assert_eq!(
        listed(&b).await,
        [
            "n1:9:false:INFERENCE",
            "n2:4:true:UNKNOWN",
            "n3:4:true:UNKNOWN"
        ]
    );

    a.delete("n2").await.unwrap();
    assert_eq!(
        listed(&b).await,
        ["n1:9:false:INFERENCE", "n3:4:true:UNKNOWN"]
    );

    b.upsert(node("n4")).await.unwrap();
    let a_nums: Vec<u64> = a
        .list()
        .await
        .unwrap()
        .iter()
        .map(|r| r.node.node_num)
        .collect();
    assert_eq!(a_nums, [1, 3, 4]);
}

#[tokio::test]
async fn changes_made_by_hand_in_sql_show_in_the_next_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hand.db");
    let r = SqliteRegistry::open_path(&path).await.unwrap();
    r.upsert_batch(vec![node("n1"), node("n2"), node("n3")])
        .await
        .unwrap();
    assert_eq!(r.list().await.unwrap().len(), 3);

    execute(
        &path,
        "UPDATE nodes SET state = json_set(state, '$.admin_state.enabled', json('false')) \
         WHERE id = 'n2'",
    )
    .await;
    assert_eq!(
        listed(&r).await,
        [
            "n1:4:true:UNKNOWN",
            "n2:4:false:UNKNOWN",
            "n3:4:true:UNKNOWN"
        ]
    );

    execute(&path, "DELETE FROM nodes WHERE id = 'n1'").await;
    assert_eq!(
        listed(&r).await,
        ["n2:4:false:UNKNOWN", "n3:4:true:UNKNOWN"]
    );

    execute(&path, "DELETE FROM nodes").await;
    assert!(r.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn list_is_served_from_memory_until_the_registry_version_moves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memo.db");
    let r = SqliteRegistry::open_path(&path).await.unwrap();
    r.upsert(node("n1")).await.unwrap();
    assert_eq!(listed(&r).await, ["n1:4:true:UNKNOWN"]);

    // A change whose version bump is undone in the same transaction is not seen: the list comes
    // from memory.
    execute(
        &path,
        "BEGIN; \
         UPDATE nodes SET config = json_set(config, '$.max_concurrent', 77) WHERE id = 'n1'; \
         UPDATE counters SET value = value - 1 WHERE name = 'registry_version'; \
         COMMIT",
    )
    .await;
    assert_eq!(listed(&r).await, ["n1:4:true:UNKNOWN"]);
    // Reads of one node always go to the file.
    assert_eq!(r.get("n1").await.unwrap().node.max_concurrent, 77);

    // Once the version moves, the list is read again.
    execute(
        &path,
        "UPDATE counters SET value = value + 1 WHERE name = 'registry_version'",
    )
    .await;
    assert_eq!(listed(&r).await, ["n1:77:true:UNKNOWN"]);
}
