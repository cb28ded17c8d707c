//! `SqliteTraceStore`: the trace store conformance suite, traces living in the registry's own
//! database file (one migration set, one file), persistence across reopening, and selection of
//! the backend by URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gonka_admin::{open_registry, open_trace_store, SqliteTraceStore};
use gonka_core::testing::traces::trace;
use gonka_core::traces::TraceQuery;

#[tokio::test]
async fn sqlite_trace_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTraceStore::open_path(dir.path().join("traces.db"))
        .await
        .unwrap();
    gonka_core::testing::trace_store_suite(store).await;
}

#[tokio::test]
async fn in_memory_sqlite_trace_store_conforms() {
    let store = SqliteTraceStore::connect("sqlite::memory:").await.unwrap();
    gonka_core::testing::trace_store_suite(store).await;
}

#[tokio::test]
async fn traces_live_in_the_registry_file_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gonka.db").display());
    let registry = open_registry(&url).await.unwrap();
    registry
        .upsert(gonka_core::testing::node("n1"))
        .await
        .unwrap();
    let store = open_trace_store(&url).await.unwrap();
    store
        .append(vec![trace("r1", 1_000, "m", "n1")])
        .await
        .unwrap();
    drop(store);
    drop(registry);
    let again = open_trace_store(&url).await.unwrap();
    let got = again
        .query(&TraceQuery {
            limit: 10,
            ..TraceQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].request_id, "r1");
    let registry = open_registry(&url).await.unwrap();
    assert_eq!(
        registry.list().await.unwrap().len(),
        1,
        "the registry's nodes are in the same file"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".db"))
        .collect();
    assert_eq!(files, ["gonka.db"], "one database file");
}

#[tokio::test]
async fn open_trace_store_selects_by_scheme() {
    let memory = open_trace_store("memory:").await.unwrap();
    assert_eq!(memory.count().await.unwrap(), 0);
    let e = open_trace_store("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("sqlite:"), "{e}");
    let e = open_trace_store("postgresql://u:pw@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with("cannot open database"),
        "the PostgreSQL backend was chosen: {e}"
    );
    assert!(!e.to_string().contains("pw"), "password leaked: {e}");
}

#[tokio::test]
async fn sqlite_trace_store_throughput_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTraceStore::open_path(dir.path().join("traces.db"))
        .await
        .unwrap();
    gonka_core::testing::trace_store_throughput(&store, "SQLite", 20_000, 512).await;
}
