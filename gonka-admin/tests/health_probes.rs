//! `/livez` and `/readyz` of the admin API: served beside the admin routes without the token and
//! without the allowed-`Host` check (a kubelet probes by pod IP); `/readyz` is 200 while the
//! SQLite database answers. The database-down case runs on PostgreSQL in `postgres_outage.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::Server;
use gonka_admin::{AdminOptions, SqliteRegistry};
use serde_json::json;

#[tokio::test]
async fn probes_answer_without_the_token_from_any_host_and_readyz_reads_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gonka.db").display());
    let registry = SqliteRegistry::connect(&url).await.unwrap();
    let options = AdminOptions {
        token: Some("s3cret".into()),
        ..AdminOptions::default()
    };
    let server = Server::start_with(Arc::new(registry), options).await;
    let client = reqwest::Client::new();
    for (path, want) in [
        ("/livez", json!({"status": "alive"})),
        (
            "/readyz",
            json!({"status": "ready", "checks": {"registry": {"ok": true, "detail": "answers"}}}),
        ),
    ] {
        let resp = client
            .get(server.url(path))
            .header("host", "10.1.2.3:9200")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(
            resp.json::<serde_json::Value>().await.unwrap(),
            want,
            "{path}"
        );
    }
    // The admin routes themselves still need the token.
    let resp = client
        .get(server.url("/admin/v1/nodes"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    server.stop().await;
}
