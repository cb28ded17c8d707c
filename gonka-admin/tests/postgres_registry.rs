//! `PostgresRegistry`: the conformance suite, selection by URL, the change feed between two
//! registries on one database (as two gateway replicas have), writers racing across registries,
//! and the time of a 10,000-node batch (printed, not asserted).
//!
//! Every test needs `GONKA_TEST_POSTGRES_URL` (see `scripts/postgres.sh`); without it, it prints
//! `skipped: ...` and returns. Each test works in its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gonka_admin::PostgresRegistry;
use gonka_core::testing::node;
use gonka_core::{Error, NodeRegistry, NodeStatus, RegistryEvent, StatusUpdate};
use postgres_support::TestDb;
use tokio::sync::broadcast::Receiver;

async fn next_event(rx: &mut Receiver<RegistryEvent>) -> RegistryEvent {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no change event within 5 s")
        .expect("change feed closed or lagged")
}

fn describe(event: &RegistryEvent) -> String {
    match event {
        RegistryEvent::Upserted(r) => format!(
            "up:{}:{}:{}:{}",
            r.node.id,
            r.node.max_concurrent,
            r.state.admin_state.enabled,
            r.state.current_status.as_str()
        ),
        RegistryEvent::Deleted(r) => format!("del:{}:{}", r.node.id, r.node.node_num),
        _ => "other".into(),
    }
}

#[tokio::test]
async fn postgres_registry_conforms() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    gonka_core::testing::registry_suite(PostgresRegistry::connect(&db.url).await.unwrap()).await;
    db.drop_db().await;
}

#[tokio::test]
async fn open_registry_selects_postgres_for_both_url_schemes() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = gonka_admin::open_registry(&db.url).await.unwrap();
    a.upsert(node("a")).await.unwrap();
    let alt = db.url.replacen("postgres://", "postgresql://", 1);
    assert!(alt.starts_with("postgresql://"), "{alt}");
    let b = gonka_admin::open_registry(&alt).await.unwrap();
    assert_eq!(b.get("a").await.unwrap().node.node_num, 1);
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn changes_made_through_one_registry_reach_the_others_feed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = PostgresRegistry::connect(&db.url).await.unwrap();
    let b = PostgresRegistry::connect(&db.url).await.unwrap();
    let mut b_feed = b.watch();

    let started = Instant::now();
    a.upsert(node("n1")).await.unwrap();
    let first = next_event(&mut b_feed).await;
    println!(
        "replica B saw replica A's insert after {:?}",
        started.elapsed()
    );
    assert_eq!(describe(&first), "up:n1:4:true:UNKNOWN");

    a.upsert(node("n1").max_concurrent(9)).await.unwrap();
    a.set_enabled("n1", false, 3).await.unwrap();
    a.update_status(
        "n1",
        StatusUpdate {
            current_status: Some(NodeStatus::Inference),
            ..StatusUpdate::default()
        },
    )
    .await
    .unwrap();
    a.upsert_batch(vec![node("n2"), node("n3")]).await.unwrap();
    a.delete("n2").await.unwrap();
    // Each notification is resolved by reading the row, so an event may already show a later
    // state (and a node deleted meanwhile is skipped); the last event of each node is its final
    // state.
    let mut seen = Vec::new();
    while !seen.iter().any(|s: &String| s.starts_with("del:")) {
        assert!(seen.len() < 20, "no delete event among {seen:?}");
        seen.push(describe(&next_event(&mut b_feed).await));
    }
    assert_eq!(seen.last().unwrap(), "del:n2:2");
    let n1_last = seen.iter().rev().find(|s| s.starts_with("up:n1")).unwrap();
    assert_eq!(n1_last, "up:n1:9:false:INFERENCE");
    assert!(seen.iter().any(|s| s == "up:n3:4:true:UNKNOWN"), "{seen:?}");

    // B's own writes reach its feed exactly once, and A's feed too.
    let mut a_feed = a.watch();
    b.upsert(node("n4")).await.unwrap();
    assert_eq!(
        describe(&next_event(&mut b_feed).await),
        "up:n4:4:true:UNKNOWN"
    );
    assert_eq!(
        describe(&next_event(&mut a_feed).await),
        "up:n4:4:true:UNKNOWN"
    );
    b.delete("n4").await.unwrap();
    assert_eq!(describe(&next_event(&mut b_feed).await), "del:n4:4");
    assert_eq!(describe(&next_event(&mut a_feed).await), "del:n4:4");
    assert!(
        b_feed.try_recv().is_err(),
        "own writes must not be echoed back through the listener"
    );
    drop((a, b));
    db.drop_db().await;
}

#[tokio::test]
async fn writers_in_separate_registries_never_share_an_endpoint_or_a_number() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let registries: Vec<Arc<PostgresRegistry>> = vec![
        Arc::new(PostgresRegistry::connect(&db.url).await.unwrap()),
        Arc::new(PostgresRegistry::connect(&db.url).await.unwrap()),
        Arc::new(PostgresRegistry::connect(&db.url).await.unwrap()),
    ];
    let mut tasks = Vec::new();
    for i in 0..12 {
        let r = Arc::clone(&registries[i % registries.len()]);
        tasks.push(tokio::spawn(async move {
            let mine = r.upsert(node(&format!("own{i}"))).await.unwrap();
            let raced = r
                .upsert(node(&format!("race{i}")).at("contended", 1000, 1001))
                .await;
            (mine.node.node_num, raced)
        }));
    }
    let mut nums = HashSet::new();
    let mut wins = 0;
    for t in tasks {
        let (num, raced) = t.await.unwrap();
        nums.insert(num);
        match raced {
            Ok(r) => {
                wins += 1;
                nums.insert(r.node.node_num);
            }
            Err(Error::Conflict(e)) => assert!(e.message.contains("contended:1000"), "{e}"),
            Err(e) => panic!("unexpected error from racing upsert: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one writer may take a contended endpoint");
    assert_eq!(nums.len(), 13, "node_num must be unique across registries");
    assert_eq!(registries[0].list().await.unwrap().len(), 13);
    drop(registries);
    db.drop_db().await;
}

#[tokio::test]
async fn batch_of_10000_nodes_is_stored_in_one_write() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let r = PostgresRegistry::connect(&db.url).await.unwrap();
    let other = PostgresRegistry::connect(&db.url).await.unwrap();
    let mut other_feed = other.watch();
    let batch: Vec<_> = (0..10_000).map(|i| node(&format!("n{i}"))).collect();
    let started = Instant::now();
    let results = r.upsert_batch(batch).await.unwrap();
    let upsert = started.elapsed();
    assert!(results.iter().all(Result::is_ok));
    let started = Instant::now();
    let all = r.list().await.unwrap();
    let list = started.elapsed();
    assert_eq!(all.len(), 10_000);
    assert_eq!(all[9_999].node.node_num, 10_000);
    println!("measured: batch upsert of 10,000 nodes {upsert:?}, list of 10,000 nodes {list:?}");
    // The other registry hears of every node.
    let mut ids = HashSet::new();
    while ids.len() < 10_000 {
        if let RegistryEvent::Upserted(rec) = next_event(&mut other_feed).await {
            ids.insert(rec.node.id);
        }
    }
    drop((r, other));
    db.drop_db().await;
}

#[tokio::test]
async fn changes_too_large_for_a_notification_still_reach_the_other_registry() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = PostgresRegistry::connect(&db.url).await.unwrap();
    let b = PostgresRegistry::connect(&db.url).await.unwrap();
    let mut b_feed = b.watch();

    // A record far over NOTIFY's 8000-byte payload limit: its deletion is announced by id.
    let mut wide = node("wide");
    for i in 0..400 {
        wide.models.insert(
            format!("org/model-with-a-long-name-{i}"),
            Default::default(),
        );
    }
    a.upsert(wide).await.unwrap();
    assert_eq!(
        describe(&next_event(&mut b_feed).await),
        "up:wide:4:true:UNKNOWN"
    );
    a.delete("wide").await.unwrap();
    assert_eq!(describe(&next_event(&mut b_feed).await), "del:wide:1");

    // An id too long for any payload (the API caps ids at 128 characters; the registry does
    // not): the other registry re-lists and still sees it.
    let long_id = "x".repeat(9000);
    a.upsert(node(&long_id).at("h-long", 1, 2)).await.unwrap();
    let mut found = false;
    for _ in 0..10 {
        if let RegistryEvent::Upserted(r) = next_event(&mut b_feed).await {
            if r.node.id == long_id {
                found = true;
                break;
            }
        }
    }
    assert!(
        found,
        "the long-id node never reached the other registry's feed"
    );
    drop((a, b));
    db.drop_db().await;
}
