//! `PostgresTraceStore`: the trace store conformance suite, and two replicas sharing the
//! registry's database seeing each other's traces.
//!
//! Every test needs `GONKA_TEST_POSTGRES_URL` (see `scripts/postgres.sh`); without it, it prints
//! `skipped: ...` and returns. Each test works in its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_support;

use gonka_admin::PostgresTraceStore;
use gonka_core::testing::traces::trace;
use gonka_core::traces::TraceQuery;
use gonka_core::TraceStore;
use postgres_support::TestDb;

#[tokio::test]
async fn postgres_trace_store_conforms() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    gonka_core::testing::trace_store_suite(PostgresTraceStore::connect(&db.url).await.unwrap())
        .await;
    db.drop_db().await;
}

#[tokio::test]
async fn replicas_on_one_database_share_traces_with_the_registry() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let registry = gonka_admin::open_registry(&db.url).await.unwrap();
    registry
        .upsert(gonka_core::testing::node("n1"))
        .await
        .unwrap();
    let a = gonka_admin::open_trace_store(&db.url).await.unwrap();
    let b = PostgresTraceStore::connect(&db.url).await.unwrap();
    a.append(vec![trace("from-a", 1_000, "m", "n1")])
        .await
        .unwrap();
    let seen = b
        .query(&TraceQuery {
            limit: 5,
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_id, "from-a");
    drop(registry);
    b.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn postgres_trace_store_throughput_is_printed() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = PostgresTraceStore::connect(&db.url).await.unwrap();
    gonka_core::testing::trace_store_throughput(&store, "PostgreSQL", 20_000, 512).await;
    store.close().await;
    db.drop_db().await;
}
