//! Another spelling of a registered host:port is the same endpoint: a trailing dot, a scheme or
//! upper case is a duplicate (400, as upstream answers duplicates); an ambiguous IPv4 spelling (`010.000.000.021`, read as octal by
//! the URL standard) and a host with a port in it are refused with a 400 naming the problem;
//! a registry file written by an older release (host keys in the old, looser form) still finds
//! the duplicates once reopened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use gonka_admin::{AdminOptions, SqliteRegistry};
use gonka_core::{Error, NodeConfig, NodeRegistry};
use serde_json::{json, Value};

fn at(id: &str, host: &str) -> Value {
    let mut n = seed_node1();
    n["id"] = json!(id);
    n["host"] = json!(host);
    n
}

#[tokio::test]
async fn aliases_of_a_registered_address_are_duplicates_and_ambiguous_hosts_are_refused() {
    let registry = Arc::new(SqliteRegistry::in_temp_dir().await.unwrap());
    let s = Server::start_with(registry, AdminOptions::default()).await;
    let first = call(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some(&at("node1", "10.0.0.21")),
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);

    for alias in ["10.0.0.21.", "HTTP://10.0.0.21./"] {
        let a = call(&s, "POST", "/admin/v1/nodes", Some(&at("alias", alias))).await;
        assert_eq!(a.status, 400, "{alias}: {}", a.text);
        assert!(a.text.contains("duplicate"), "{alias}: {}", a.text);
        assert!(a.text.contains("10.0.0.21:5050"), "{alias}: {}", a.text);
    }
    for (host, says) in [
        ("010.000.000.021", "ambiguous IPv4"),
        ("0x0a.0.0.21", "ambiguous IPv4"),
        ("10.0.0.21:5050", "contains a port"),
        ("[::1]:5050", "contains a port"),
        ("::1", "in brackets"),
    ] {
        let a = call(&s, "POST", "/admin/v1/nodes", Some(&at("odd", host))).await;
        assert_eq!(a.status, 400, "{host}: {}", a.text);
        assert!(
            a.text.contains(says),
            "{host} must say {says:?}: {}",
            a.text
        );
    }
    // In a batch: the alias of a stored node and of an earlier element are both rejected.
    let batch = json!([
        at("b1", "10.0.0.30"),
        at("b2", "10.0.0.30."),
        at("b3", "10.0.0.21.")
    ]);
    let a = call(&s, "POST", "/admin/v1/nodes/batch", Some(&batch)).await;
    assert_eq!(a.status, 206, "{}", a.text);
    let rejected: Vec<u64> = a.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, vec![1, 2], "{}", a.text);
    let list = call(&s, "GET", "/admin/v1/nodes", None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 2, "{}", list.text);
    s.stop().await;
}

#[tokio::test]
async fn a_registry_file_keyed_by_an_older_release_finds_aliases_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let node = |id: &str, host: &str| {
        NodeConfig::new(id, gonka_core::testing::MODEL)
            .at(host, 5050, 8080)
            .max_concurrent(4)
    };
    {
        let r = SqliteRegistry::open_path(&path).await.unwrap();
        r.upsert(node("old", "10.0.0.21.")).await.unwrap();
        r.close().await;
    }
    // What an older release stored: the host lower-cased, its trailing dot kept.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE nodes SET host_key = '10.0.0.21.' WHERE id = 'old'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let r = SqliteRegistry::open_path(&path).await.unwrap();
    match r.upsert(node("new", "10.0.0.21")).await {
        Err(Error::Conflict(e)) => assert!(e.message.contains("'old'"), "{e}"),
        other => panic!("the alias of an old row must conflict, got {other:?}"),
    }
}
