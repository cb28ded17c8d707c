//! Schema versioning of `PostgresRegistry`: a database created by release 1 (fixture
//! `fixtures/pg_v1.sql`) is migrated at connect (through releases 2 and 3) and keeps every node,
//! its state and its numbering;
//! a database from a newer release is refused instead of being misread.
//! Needs `GONKA_TEST_POSTGRES_URL`; without it each test prints `skipped: ...` and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_support;

use gonka_admin::{OpenError, PostgresRegistry};
use gonka_core::{Error, NodeConfig, NodeRegistry, NodeStatus};
use postgres_support::TestDb;
use sqlx::{Connection, PgConnection};

const RELEASE_1: &str = include_str!("fixtures/pg_v1.sql");

async fn registry_version(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'registry_version'")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn upgrade_from_release_1_keeps_every_node_and_its_numbering() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    db.execute(RELEASE_1).await;

    let r = PostgresRegistry::connect(&db.url).await.unwrap();
    let all = r.list().await.unwrap();
    let ids: Vec<(&str, u64)> = all
        .iter()
        .map(|n| (n.node.id.as_str(), n.node.node_num))
        .collect();
    assert_eq!(ids, vec![("node1", 1), ("node2", 2), ("node4", 4)]);
    let node2 = &all[1];
    assert_eq!(node2.node.host, "http://10.0.0.22");
    assert_eq!(
        node2.node.models["Qwen/Qwen3-235B-A22B-Instruct-2507-FP8"].args,
        vec!["--tensor-parallel-size", "4"]
    );
    assert_eq!(node2.node.hardware[0].count, 4);
    assert!(!node2.state.admin_state.enabled);
    assert_eq!(node2.state.admin_state.epoch, 7);
    assert_eq!(all[2].state.current_status, NodeStatus::Failed);
    assert_eq!(all[2].state.failure_reason, "engine exited with code 1");

    // Numbering continues after the counter (3 was used by a deleted node), and the upgraded
    // rows still take part in endpoint checks.
    let new = r
        .upsert(NodeConfig::new("node5", "Qwen/QwQ-32B").at("10.0.0.25", 5050, 8080))
        .await
        .unwrap();
    assert_eq!(new.node.node_num, 5);
    match r
        .upsert(NodeConfig::new("clash", "Qwen/QwQ-32B").at("10.0.0.22", 5050, 9000))
        .await
    {
        Err(Error::Conflict(e)) => assert!(e.message.contains("'node2'"), "{e}"),
        other => panic!("expected a conflict with node2, got {other:?}"),
    }

    // Release 2's schema is in place: the migration is recorded, the column and index exist.
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, vec![1, 2, 3, 4, 5]);
    let stamped: i64 =
        sqlx::query_scalar("SELECT count(*) FROM nodes WHERE updated_at IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(stamped, 4);
    let index: Option<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE indexname = 'nodes_host_key'",
    )
    .fetch_optional(&mut conn)
    .await
    .unwrap();
    assert_eq!(index.as_deref(), Some("nodes_host_key"));

    // Release 3's: the documents are stored as `json`, and the registry version exists and moves
    // with every change, also one written the way release 2 writes (`::jsonb`).
    let types: Vec<String> = sqlx::query_scalar(
        "SELECT data_type::text FROM information_schema.columns \
         WHERE table_name = 'nodes' AND column_name IN ('config', 'state')",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(types, vec!["json", "json"]);
    let before = registry_version(&mut conn).await;
    assert_eq!(r.list().await.unwrap().len(), 4);
    sqlx::query(
        "UPDATE nodes SET state = jsonb_set(state::jsonb, '{failure_reason}', '\"by release 2\"')::jsonb \
         WHERE id = 'node1'",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert!(registry_version(&mut conn).await > before);
    assert_eq!(
        r.list().await.unwrap()[0].state.failure_reason,
        "by release 2"
    );
    conn.close().await.unwrap();

    // Opening again is a no-op for the schema.
    drop(r);
    let again = PostgresRegistry::connect(&db.url).await.unwrap();
    assert_eq!(again.list().await.unwrap().len(), 4);
    drop(again);
    db.drop_db().await;
}

#[tokio::test]
async fn database_from_a_newer_release_is_refused() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    PostgresRegistry::connect(&db.url).await.unwrap();
    db.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99, 'from the future', TRUE, '\\x00', 1)",
    )
    .await;
    let e = PostgresRegistry::connect(&db.url).await.unwrap_err();
    assert!(matches!(e, OpenError::Migrate(_)), "{e}");
    assert!(e.to_string().contains("99"), "{e}");
    db.drop_db().await;
}
