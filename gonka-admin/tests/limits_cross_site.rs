//! Cross-site writes to the admin API: a web page must not be able to add or disable nodes.
//! A foreign `Origin` is refused (403), a body without `Content-Type: application/json` is
//! refused (415), a `Host` that is not the listener's (DNS rebinding) is refused (403), and in
//! each case nothing is written. Settings allow named hosts and origins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{answer, seed_node1, Answer, Server};
use gonka_admin::AdminOptions;
use gonka_core::cross_site::SitePolicy;
use gonka_core::MemoryRegistry;
use serde_json::Value;

/// Sends `method path` with a JSON body (with or without its `Content-Type`) and extra headers.
async fn send(
    s: &Server,
    method: &str,
    path: &str,
    body: Option<(&Value, bool)>,
    headers: &[(&str, &str)],
) -> Answer {
    let client = reqwest::Client::new();
    let mut rb = client.request(method.parse().unwrap(), s.url(path));
    if let Some((body, with_content_type)) = body {
        rb = rb.body(serde_json::to_vec(body).unwrap());
        if with_content_type {
            rb = rb.header("content-type", "application/json");
        }
    }
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    answer(rb.send().await.unwrap()).await
}

/// The stored nodes, listed the way a non-browser client does.
async fn node_ids(s: &Server) -> Vec<String> {
    let a = send(s, "GET", "/admin/v1/nodes", None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn is_enabled(s: &Server, id: &str) -> bool {
    let a = send(s, "GET", &format!("/admin/v1/nodes/{id}"), None, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a.body["state"]["admin_state"]["enabled"].as_bool().unwrap()
}

fn host_of(s: &Server) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn foreign_origin_post_is_refused_and_nothing_is_written() {
    let s = Server::start().await;
    let evil = [("origin", "https://evil.example")];
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some((&seed_node1(), true)),
        &evil,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    let message = a.body["error"].as_str().unwrap();
    assert!(message.contains("https://evil.example"), "{message}");
    assert!(
        node_ids(&s).await.is_empty(),
        "a refused create stored a node"
    );

    // A form post or `fetch(..., {mode: "no-cors"})` has no JSON content type: refused as well.
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some((&seed_node1(), false)),
        &evil,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);

    // Disabling needs no body at all: the Origin alone must stop it.
    let created = send(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some((&seed_node1(), true)),
        &[],
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let a = send(&s, "POST", "/admin/v1/nodes/node1/disable", None, &evil).await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(
        is_enabled(&s, "node1").await,
        "a refused disable disabled the node"
    );
    let a = send(
        &s,
        "DELETE",
        "/admin/v1/nodes/node1",
        None,
        &[("origin", "null")],
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert_eq!(node_ids(&s).await, ["node1"]);
    // A page on another port of the same machine is another site too.
    let other_port = [("origin", "http://127.0.0.1:1")];
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes/node1/disable",
        None,
        &other_port,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(is_enabled(&s, "node1").await);
}

#[tokio::test]
async fn post_without_content_type_is_refused_with_415_and_nothing_is_written() {
    let s = Server::start().await;
    for path in ["/admin/v1/nodes", "/admin/v1/nodes/batch"] {
        let body = if path.ends_with("batch") {
            Value::Array(vec![seed_node1()])
        } else {
            seed_node1()
        };
        let a = send(&s, "POST", path, Some((&body, false)), &[]).await;
        assert_eq!(a.status, 415, "{path}: {}", a.text);
        let message = a.body["error"].as_str().unwrap();
        assert!(
            message.contains("Content-Type") && message.contains("application/json"),
            "{message}"
        );
    }
    let a = send(
        &s,
        "PUT",
        "/admin/v1/nodes/node1",
        Some((&seed_node1(), false)),
        &[],
    )
    .await;
    assert_eq!(a.status, 415, "{}", a.text);
    assert!(node_ids(&s).await.is_empty(), "a refused body was stored");
}

#[tokio::test]
async fn dns_rebinding_host_is_refused() {
    let s = Server::start().await;
    let port = s.base.rsplit(':').next().unwrap().to_owned();
    let rebound = format!("evil.example:{port}");
    // The page is same-origin with the rebound name, so Origin matches Host: only Host tells.
    let origin = format!("http://{rebound}");
    let headers = [("host", rebound.as_str()), ("origin", origin.as_str())];
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some((&seed_node1(), true)),
        &headers,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    let message = a.body["error"].as_str().unwrap();
    assert!(message.contains(&rebound), "{message}");
    // Reads are refused too: a rebound page must not learn the fleet.
    let a = send(
        &s,
        "GET",
        "/admin/v1/nodes",
        None,
        &[("host", rebound.as_str())],
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(node_ids(&s).await.is_empty());
    // The listener's own address and localhost are fine, with a same-origin Origin too.
    let own = host_of(&s);
    let own_origin = format!("http://{own}");
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some((&seed_node1(), true)),
        &[("origin", own_origin.as_str())],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let localhost = format!("localhost:{port}");
    let a = send(
        &s,
        "GET",
        "/admin/v1/nodes",
        None,
        &[("host", localhost.as_str())],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn allowed_origin_and_host_via_settings_are_accepted() {
    let options = AdminOptions {
        sites: SitePolicy::default()
            .allow_hosts(["admin.internal"])
            .allow_origins(["https://ops.example.com"]),
        ..AdminOptions::default()
    };
    let s = Server::start_with(Arc::new(MemoryRegistry::new()), options).await;
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some((&seed_node1(), true)),
        &[
            ("origin", "https://ops.example.com"),
            ("host", "admin.internal:9200"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes/node1/disable",
        None,
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);
    let a = send(
        &s,
        "GET",
        "/admin/v1/nodes",
        None,
        &[("host", "other.internal")],
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.text);

    let open = AdminOptions {
        sites: SitePolicy::default()
            .allow_hosts(["*"])
            .allow_origins(["*"]),
        ..AdminOptions::default()
    };
    let s = Server::start_with(Arc::new(MemoryRegistry::new()), open).await;
    let a = send(
        &s,
        "POST",
        "/admin/v1/nodes",
        Some((&seed_node1(), true)),
        &[
            ("origin", "https://anything.example"),
            ("host", "anything.example"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
}
