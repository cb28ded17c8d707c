//! Schema versioning of `SqliteRegistry`: a database file written by release 1 (fixture
//! `fixtures/sqlite_v1.sql`, with its recorded migration checksum) opens with every node, its
//! state and its numbering, and gains release 3's registry version (a cached list still sees
//! changes written without knowledge of it). Fails if `migrations/0001_nodes.sql` is ever edited
//! in place.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gonka_admin::SqliteRegistry;
use gonka_core::{Error, NodeConfig, NodeRegistry};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

const RELEASE_1: &str = include_str!("fixtures/sqlite_v1.sql");

#[tokio::test]
async fn database_file_from_release_1_opens_with_every_node_and_its_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("release1.db");
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    conn.execute(RELEASE_1).await.unwrap();
    conn.close().await.unwrap();

    let r = SqliteRegistry::open_path(&path).await.unwrap();
    let all = r.list().await.unwrap();
    let ids: Vec<(&str, u64)> = all
        .iter()
        .map(|n| (n.node.id.as_str(), n.node.node_num))
        .collect();
    assert_eq!(ids, vec![("node1", 1), ("node3", 3)]);
    assert_eq!(all[1].node.host, "http://10.0.0.23");
    assert!(!all[1].state.admin_state.enabled);
    assert_eq!(all[1].state.admin_state.epoch, 7);

    let new = r
        .upsert(NodeConfig::new("node4", "Qwen/QwQ-32B").at("10.0.0.24", 5050, 8080))
        .await
        .unwrap();
    assert_eq!(
        new.node.node_num, 4,
        "numbering continues after the counter"
    );
    match r
        .upsert(NodeConfig::new("clash", "Qwen/QwQ-32B").at("10.0.0.23", 8080, 9000))
        .await
    {
        Err(Error::Conflict(e)) => assert!(e.message.contains("'node3'"), "{e}"),
        other => panic!("expected a conflict with node3, got {other:?}"),
    }

    // Release 3's registry version is in place and moves with a change written the way
    // release 1 writes (no knowledge of the version), so a cached list shows it.
    assert_eq!(r.list().await.unwrap().len(), 3);
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4]);
    conn.execute("UPDATE nodes SET state = json_set(state, '$.failure_reason', 'by release 1') WHERE id = 'node1'")
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(
        r.list().await.unwrap()[0].state.failure_reason,
        "by release 1"
    );
}
