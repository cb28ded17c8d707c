//! The web dashboard on the admin listener: `/dashboard` and every embedded asset are served
//! without a token, with their Content-Type, an ETag (304 on `If-None-Match`), `no-cache` and a
//! strict Content-Security-Policy; the data routes need the admin token; cross-site requests are
//! refused; the public listener does not serve the dashboard. The page's behaviour in a browser
//! is covered by scripts/ci.d/63-dashboard.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use gonka_gateway::dashboard::assets::{ASSETS, CONTENT_SECURITY_POLICY};
use serde_json::Value;

const TOKEN: &str = "dashboard-admin-token";

async fn gateway() -> (gonka_gateway::RunningGateway, String) {
    let mut config = test_config();
    config.admin_token = Some(TOKEN.into());
    let gw = start(config).await;
    let admin = format!("http://{}", gw.admin_addr.unwrap());
    (gw, admin)
}

#[tokio::test]
async fn the_page_and_every_asset_are_served_without_a_token_with_type_etag_and_csp() {
    let (gw, admin) = gateway().await;
    let client = client();
    for path in ["/dashboard", "/dashboard/"] {
        let r = client.get(format!("{admin}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("<title>gonka gateway dashboard</title>"),
            "{body}"
        );
    }
    for asset in ASSETS {
        let url = format!("{admin}/dashboard/assets/{}", asset.path);
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], asset.content_type, "{url}");
        assert_eq!(
            h["content-security-policy"], CONTENT_SECURITY_POLICY,
            "{url}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["cache-control"], "no-cache", "{url}");
        let etag = h["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{url}: {etag}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), asset.body, "{url}");
        // Revalidation: the same ETag answers 304 with no body.
        let again = client
            .get(&url)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{url}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let types: Vec<&str> = ASSETS.iter().map(|a| a.content_type).collect();
    for t in ["text/javascript", "text/css", "image/svg+xml"] {
        assert!(types.iter().any(|x| x.starts_with(t)), "{t}: {types:?}");
    }
    let missing = client
        .get(format!("{admin}/dashboard/assets/js/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("js/nothing.js"),
        "{body}"
    );
    gw.shutdown().await;
}

#[test]
fn the_csp_allows_no_inline_script_and_only_this_origin() {
    let csp = CONTENT_SECURITY_POLICY;
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
}

#[tokio::test]
async fn the_data_routes_need_the_admin_token() {
    let (gw, admin) = gateway().await;
    let client = client();
    for path in ["/dashboard/api/status", "/dashboard/api/poc"] {
        let url = format!("{admin}{path}");
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let r = client.get(&url).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let r = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        let body: Value = r.json().await.unwrap();
        assert!(body.is_object(), "{path}: {body}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn status_and_poc_report_the_gateway_without_poc() {
    let (gw, admin) = gateway().await;
    let client = client();
    let status: Value = client
        .get(format!("{admin}/dashboard/api/status"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["nodes"], 0, "{status}");
    assert_eq!(status["routable_nodes"], 0, "{status}");
    assert_eq!(status["status"], "not ready", "{status}");
    let poc: Value = client
        .get(format!("{admin}/dashboard/api/poc"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(poc["enabled"], false, "{poc}");
    assert_eq!(poc["epoch"], 0, "{poc}");
    assert!(
        poc["participants"].is_null() && poc["phase"].is_null(),
        "{poc}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_the_public_listener_has_no_dashboard() {
    let (gw, admin) = gateway().await;
    let client = client();
    for path in ["/dashboard", "/dashboard/api/status"] {
        let r = client
            .get(format!("{admin}{path}"))
            .bearer_auth(TOKEN)
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let port = gw.admin_addr.unwrap().port();
        let r = client
            .get(format!("{admin}{path}"))
            .bearer_auth(TOKEN)
            .header("host", format!("rebound.example:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let public = format!("http://{}", gw.public_addr);
    let r = client
        .get(format!("{public}/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    gw.shutdown().await;
}

/// `/dashboard/api/poc` on a devnet with PoC epochs: after the first validated epoch it names the
/// phase, the round's nodes, each node's outcome and weight, and the participants exactly as the
/// public `/v1/epochs/current/participants` does.
#[tokio::test]
async fn poc_status_shows_the_validated_epoch_its_outcomes_and_weights() {
    use gonka_gateway::devnet::{self, DevnetConfig};
    use gonka_gateway::poc::{DevnetChain, DevnetPoc, PhaseDurations};
    use gonka_mlnode::poc::{PocSettings, TinyModelCompute};
    use std::sync::Arc;
    use std::time::Duration;

    let listeners = gonka_gateway::Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
    };
    let mut chain = DevnetChain::default();
    chain.model.seq_len = 8;
    let mut config = DevnetConfig {
        ml_nodes: 2,
        ready_timeout: Duration::from_secs(30),
        poc: Some(DevnetPoc {
            phases: PhaseDurations::within_epoch(
                Duration::from_secs(30),
                Duration::from_millis(2000),
                Duration::from_millis(500),
                Duration::from_millis(2000),
            )
            .unwrap(),
            chain,
            mlnode: PocSettings {
                compute: Arc::new(TinyModelCompute::default()),
                callback_interval: Duration::from_millis(200),
                ..PocSettings::default()
            },
            ..DevnetPoc::default()
        }),
        ..DevnetConfig::default()
    };
    config.gateway.admin_token = Some(TOKEN.into());
    config.gateway.health_interval = Duration::from_millis(100);
    config.gateway.reconcile_interval = Duration::from_millis(500);
    let net = devnet::start(config, listeners).await.unwrap();
    let admin = format!("http://{}", net.gateway.admin_addr.unwrap());
    let public = format!("http://{}", net.gateway.public_addr);
    let client = client();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let r = client.get(url).bearer_auth(TOKEN).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };

    let mut status = Value::Null;
    for _ in 0..600 {
        status = get(format!("{admin}/dashboard/api/poc")).await;
        if status["validated_epoch"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status["validated_epoch"], 1,
        "no validated epoch: {status:#}"
    );
    assert_eq!(status["enabled"], true);
    assert!(status["epoch"].as_u64().unwrap() >= 1, "{status:#}");
    assert!(status["phase"]["phase"].is_string(), "{status:#}");
    let round: Vec<&str> = status["round"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(round, ["devnet-0", "devnet-1"], "{status:#}");
    let outcomes = status["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2, "{status:#}");
    let mut weight = 0;
    for o in outcomes {
        assert_eq!(o["outcome"], "valid", "{o}");
        assert!(o["count"].as_u64().unwrap() > 0, "{o}");
        assert_eq!(o["weight"], o["count"], "{o}");
        weight += o["weight"].as_u64().unwrap();
    }
    assert_eq!(status["total_weight"], weight, "{status:#}");
    // The same participants as the public API publishes.
    let current: Value = client
        .get(format!("{public}/v1/epochs/current/participants"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["participants"], current);
    assert_eq!(
        current["active_participants"]["participants"][0]["weight"],
        weight
    );
    net.shutdown().await;
}
