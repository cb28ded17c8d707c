//! `/metrics` of the gateway over real HTTP: who may read it (API keys, the metrics token, its
//! own listener) and what it counts (tokens from `usage`, TTFT of streams only, queue wait,
//! buckets past the request timeout, build info).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::*;

async fn scrape(url: &str, bearer: Option<&str>) -> (u16, String) {
    let mut r = client().get(url);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the sample `name{labels}` (labels as printed, in order), if exposed.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn with_api_keys_public_metrics_need_a_key() {
    let mut config = test_config();
    config.api_keys = gonka_gateway::config::parse_api_keys("sk-one");
    let gw = start(config).await;
    let url = format!("http://{}/metrics", gw.public_addr);
    assert_eq!(scrape(&url, None).await.0, 401);
    assert_eq!(scrape(&url, Some("sk-wrong")).await.0, 401);
    let (code, text) = scrape(&url, Some("sk-one")).await;
    assert_eq!(code, 200);
    assert!(text.contains("gonka_build_info{"), "{text}");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_metrics_token_guards_metrics() {
    let mut config = test_config();
    config.metrics_token = Some("scrape-me".into());
    let gw = start(config).await;
    let url = format!("http://{}/metrics", gw.public_addr);
    assert_eq!(scrape(&url, None).await.0, 401);
    assert_eq!(scrape(&url, Some("scrape-me")).await.0, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_metrics_listener_takes_metrics_off_the_public_port() {
    let mut config = test_config();
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    config.api_keys = gonka_gateway::config::parse_api_keys("sk-one");
    let gw = start(config).await;
    let metrics = gw.metrics_addr.expect("metrics listener");
    assert!(gw
        .addresses()
        .contains(&format!("metrics http://{metrics}")));
    assert_eq!(
        scrape(
            &format!("http://{}/metrics", gw.public_addr),
            Some("sk-one")
        )
        .await
        .0,
        404
    );
    // Its own listener is open unless a metrics token is set.
    let (code, text) = scrape(&format!("http://{metrics}/metrics"), None).await;
    assert_eq!(code, 200);
    assert!(text.contains("gonka_gateway_nodes_routable"), "{text}");
    assert_eq!(
        scrape(&format!("http://{metrics}/livez"), None).await.0,
        200
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn tokens_ttft_queue_wait_and_buckets_are_recorded() {
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let config = test_config();
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    let url = format!("http://{}/v1/chat/completions", gw.public_addr);
    // Two documents (usage 1 + 5 each), one stream asking for usage (1 + 5), one stream without.
    for _ in 0..2 {
        let r = client()
            .post(&url)
            .json(&chat_body(MODEL, false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    let mut with_usage = chat_body(MODEL, true);
    with_usage["stream_options"] = serde_json::json!({"include_usage": true});
    for body in [with_usage, chat_body(MODEL, true)] {
        let r = client().post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    }
    let (_, text) = scrape(&format!("http://{}/metrics", gw.public_addr), None).await;
    let m = format!("model=\"{MODEL}\"");
    assert_eq!(
        sample(
            &text,
            &format!("gonka_gateway_tokens_total{{{m},kind=\"prompt\"}}")
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("gonka_gateway_tokens_total{{{m},kind=\"completion\"}}")
        ),
        Some(15.0),
        "{text}"
    );
    // TTFT: the two streams only; queue wait: all four requests.
    assert_eq!(
        sample(
            &text,
            &format!("gonka_gateway_time_to_first_token_seconds_count{{{m}}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("gonka_gateway_queue_wait_seconds_count{{{m}}}")
        ),
        Some(4.0),
        "{text}"
    );
    // The largest finite duration bucket is past queue + request timeout (5 s + 300 s here).
    let largest = text
        .lines()
        .filter(|l| l.starts_with("gonka_gateway_request_duration_seconds_bucket{"))
        .filter_map(|l| {
            l.split("le=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse::<f64>()
                .ok()
        })
        .fold(0.0, f64::max);
    assert!(largest >= 305.0, "largest bucket {largest}");
    assert!(
        text.contains(&format!(
            "gonka_build_info{{binary=\"gonka-gateway\",version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert_eq!(
        sample(&text, "gonka_gateway_node_routable{node=\"n1\"}"),
        Some(1.0)
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn breaker_transitions_and_exhausted_retries_are_counted() {
    let mut node = FakeMlNode::start(FakeOptions::serving(MODEL));
    let mut config = test_config();
    // One health check (at registration), then none during the test: the node is still
    // routable when the request finds it gone.
    config.health_interval = std::time::Duration::from_secs(600);
    config.health_recovery_interval = std::time::Duration::from_secs(600);
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node.config("n1", 4)).await;
    wait_routable(&gw, MODEL, 1).await;
    node.kill();
    // The kill closes the node's sockets in the background: wait (bounded) until its inference
    // port refuses connections, so the request meets a refused connect (which opens the breaker
    // at once) rather than a socket still closing (a reset, a server failure that does not).
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(node.inference_addr)
            .await
            .is_err()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // The only node refuses the connection: its breaker opens and the request fails on its
    // only try (no other node could take it): the tries are exhausted.
    let r = client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    let (_, text) = scrape(&format!("http://{}/metrics", gw.public_addr), None).await;
    assert_eq!(
        sample(
            &text,
            "gonka_gateway_breaker_transitions_total{to=\"open\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("gonka_gateway_retries_exhausted_total{{model=\"{MODEL}\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    gw.shutdown().await;
}
