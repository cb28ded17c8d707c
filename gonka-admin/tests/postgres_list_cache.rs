//! `PostgresRegistry::list` answers from memory while the database's registry version stays put,
//! and shows every committed change once it moves: writes through another registry (another
//! replica), changes made by hand in SQL (the version is bumped by a trigger), and lists racing
//! writes never go back in time.
//!
//! Every test needs `GONKA_TEST_POSTGRES_URL` (see `scripts/postgres.sh`); without it, it prints
//! `skipped: ...` and returns. Each test works in its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gonka_admin::PostgresRegistry;
use gonka_core::testing::node;
use gonka_core::{NodeRecord, NodeRegistry, NodeStatus, StatusUpdate};
use postgres_support::TestDb;

/// `id:max_concurrent:enabled:status` of every listed node, in list order.
async fn listed(r: &PostgresRegistry) -> Vec<String> {
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

#[tokio::test]
async fn a_replica_with_a_cached_list_shows_every_write_committed_by_another() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = PostgresRegistry::connect(&db.url).await.unwrap();
    let b = PostgresRegistry::connect(&db.url).await.unwrap();
    // B has listed (and so cached) before each of A's writes; no waiting for the change feed.
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

    // And the other way round: A had cached its own list.
    b.upsert(node("n4")).await.unwrap();
    let a_ids: Vec<u64> = a
        .list()
        .await
        .unwrap()
        .iter()
        .map(|r| r.node.node_num)
        .collect();
    assert_eq!(a_ids, [1, 3, 4]);
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn changes_made_by_hand_in_sql_show_in_the_next_list() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let r = PostgresRegistry::connect(&db.url).await.unwrap();
    r.upsert_batch(vec![node("n1"), node("n2"), node("n3")])
        .await
        .unwrap();
    assert_eq!(r.list().await.unwrap().len(), 3);

    // An operator edits a row, bypassing every registry (and its lock).
    db.execute(
        "UPDATE nodes SET state = jsonb_set(state::jsonb, '{admin_state}', \
         '{\"enabled\": false, \"epoch\": 8}')::json WHERE id = 'n2'",
    )
    .await;
    let all = r.list().await.unwrap();
    assert!(!all[1].state.admin_state.enabled);
    assert_eq!(all[1].state.admin_state.epoch, 8);

    db.execute("DELETE FROM nodes WHERE id = 'n1'").await;
    assert_eq!(
        listed(&r).await,
        ["n2:4:false:UNKNOWN", "n3:4:true:UNKNOWN"]
    );

    db.execute("TRUNCATE nodes").await;
    assert!(r.list().await.unwrap().is_empty());
    drop(r);
    db.drop_db().await;
}

#[tokio::test]
async fn list_is_served_from_memory_until_the_registry_version_moves() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let r = PostgresRegistry::connect(&db.url).await.unwrap();
    r.upsert(node("n1")).await.unwrap();
    assert_eq!(listed(&r).await, ["n1:4:true:UNKNOWN"]);

    // A change that does not move the version (the trigger switched off) is not seen: the list
    // comes from memory.
    db.execute(
        "ALTER TABLE nodes DISABLE TRIGGER nodes_bump_registry_version; \
         UPDATE nodes SET config = jsonb_set(config::jsonb, '{max_concurrent}', '77')::json \
         WHERE id = 'n1'; \
         ALTER TABLE nodes ENABLE TRIGGER nodes_bump_registry_version",
    )
    .await;
    assert_eq!(listed(&r).await, ["n1:4:true:UNKNOWN"]);
    // Reads of one node always go to the database.
    assert_eq!(r.get("n1").await.unwrap().node.max_concurrent, 77);

    // Once the version moves, the list is read again.
    db.execute("UPDATE counters SET value = value + 1 WHERE name = 'registry_version'")
        .await;
    assert_eq!(listed(&r).await, ["n1:77:true:UNKNOWN"]);
    drop(r);
    db.drop_db().await;
}

#[tokio::test]
async fn lists_racing_another_replicas_writes_never_go_back_in_time() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let writer = PostgresRegistry::connect(&db.url).await.unwrap();
    let reader = Arc::new(PostgresRegistry::connect(&db.url).await.unwrap());
    const WRITES: usize = 40;
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let reader = Arc::clone(&reader);
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut seen = Vec::new();
                while Instant::now() < deadline {
                    let all = reader.list().await.unwrap();
                    // Always a prefix of the writes, in order: n0, n1, ...
                    for (i, r) in all.iter().enumerate() {
                        assert_eq!(r.node.id, format!("n{i}"));
                    }
                    seen.push(all.len());
                    if all.len() == WRITES {
                        break;
                    }
                }
                seen
            })
        })
        .collect();
    for i in 0..WRITES {
        writer.upsert(node(&format!("n{i}"))).await.unwrap();
        // Every write is visible to the next list of the other replica.
        assert!(reader.list().await.unwrap().len() > i);
    }
    for task in readers {
        let seen = task.await.unwrap();
        assert_eq!(seen.last(), Some(&WRITES), "reader never saw every write");
        assert!(
            seen.windows(2).all(|w| w[0] <= w[1]),
            "a later list showed fewer nodes: {seen:?}"
        );
    }
    drop((writer, reader));
    db.drop_db().await;
}
