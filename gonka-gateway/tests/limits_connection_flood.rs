//! A connection flood against the real `gonka-gateway` binary, run with an open-file limit of 256
//! (soft and hard) and caps of 128 connections per listener and 64 per client address (given by
//! `GONKA_MAX_CONNECTIONS` / `GONKA_MAX_CONNECTIONS_PER_IP`). One client, 127.0.0.2, opens 300
//! idle connections to the public listener — more than the process has descriptors. The gateway
//! keeps its 64, answers every other one `503` with `Connection: close` (none is left hanging),
//! and meanwhile a second client, 127.0.0.1, gets 200s on the public and admin listeners (a chat
//! completion included, so upstream connections still open), and the health checks of the node
//! (which closes every management connection, so each check needs a new descriptor) keep passing.
//!
//! Before connection caps, the same flood exhausted the gateway's descriptors: no 503, the second
//! client waited in the listen queue, and health checks failed for lack of descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::gateway_process::GatewayProcess;
use common::{chat_body, MODEL};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

/// Open-file limit of the gateway process: fewer descriptors than the flood's connections.
const NOFILE: u64 = 256;
const MAX_CONNECTIONS: usize = 128;
const MAX_PER_IP: usize = 64;
/// Idle connections the flooding client opens.
const FLOOD: usize = 300;
/// Bound of every wait of this test.
const DEADLINE: Duration = Duration::from_secs(20);

const FLOODER: &str = "127.0.0.2";
const GOOD_CLIENT: &str = "127.0.0.1";

async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Polls `check` every 50 ms until it holds; panics naming `what` after [`DEADLINE`].
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not within {DEADLINE:?}: {what}");
}

/// Whether the gateway's metrics report node `id` healthy.
async fn node_healthy(http: &reqwest::Client, public: &str, id: &str) -> bool {
    let Ok(r) = http.get(format!("{public}/metrics")).send().await else {
        return false;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .any(|l| l == format!("gonka_gateway_node_healthy{{node=\"{id}\"}} 1"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_from_one_address_is_shed_with_503_while_others_and_health_checks_are_served() {
    let node = FakeMlNode::start(FakeOptions {
        close_connections: true,
        ..FakeOptions::serving(MODEL)
    });
    let max = MAX_CONNECTIONS.to_string();
    let per_ip = MAX_PER_IP.to_string();
    let gateway = GatewayProcess::spawn_with_fd_limit(
        "memory:",
        &[
            "--health-interval",
            "100ms",
            "--health-timeout",
            "2s",
            "--reconcile-interval",
            "500ms",
            // Longer than this test: the flood's admitted connections stay open throughout.
            "--header-read-timeout",
            "120s",
        ],
        &[
            ("GONKA_MAX_CONNECTIONS", &max),
            ("GONKA_MAX_CONNECTIONS_PER_IP", &per_ip),
        ],
        NOFILE,
    )
    .await;
    let [public_addr, _, _] = gateway.addrs();
    let http = reqwest::Client::builder()
        .no_proxy()
        .local_address(GOOD_CLIENT.parse::<IpAddr>().unwrap())
        // A new connection per request: each must be accepted during the flood.
        .pool_max_idle_per_host(0)
        .timeout(DEADLINE)
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/admin/v1/nodes", gateway.admin))
        .json(&node.config("n1", 4))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_until("n1 healthy before the flood", || {
        node_healthy(&http, &gateway.public, "n1")
    })
    .await;

    // The flood: idle connections, each read until the gateway closes it.
    let shed = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..FLOOD {
        let mut stream = connect_from(FLOODER, public_addr).await;
        let shed = Arc::clone(&shed);
        readers.push(tokio::spawn(async move {
            let mut reply = Vec::new();
            let _ = stream.read_to_end(&mut reply).await;
            let reply = String::from_utf8_lossy(&reply).into_owned();
            if reply.starts_with("HTTP/1.1 503 ") {
                shed.fetch_add(1, Ordering::SeqCst);
            }
            reply
        }));
    }
    wait_until(
        "every flood connection over the per-address cap answered 503",
        || {
            let n = shed.load(Ordering::SeqCst);
            async move { n >= FLOOD - MAX_PER_IP }
        },
    )
    .await;
    let open = readers.iter().filter(|r| !r.is_finished()).count();
    assert_eq!(
        open, MAX_PER_IP,
        "the flooder keeps exactly its 64 connections"
    );
    let answered: Vec<&tokio::task::JoinHandle<String>> =
        readers.iter().filter(|r| r.is_finished()).collect();
    assert_eq!(answered.len(), FLOOD - MAX_PER_IP);

    // While the flood holds its connections: another client is served on every listener, an
    // inference goes upstream, and the node's health checks (a new connection each) keep passing.
    let checks_before = node.state.health_checks();
    let r = http
        .get(format!("{}/health", gateway.public))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{}/admin/v1/nodes", gateway.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{}/v1/chat/completions", gateway.public))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    wait_until("ten more health checks of n1 during the flood", || {
        let n = node.state.health_checks();
        async move { n >= checks_before + 10 }
    })
    .await;
    assert!(
        node_healthy(&http, &gateway.public, "n1").await,
        "n1 stays healthy during the flood"
    );

    // A shed answer is a complete 503 naming the cap.
    let mut sample = None;
    for r in readers.into_iter() {
        if r.is_finished() {
            sample = Some(r.await.unwrap());
            break;
        }
    }
    let sample = sample.unwrap();
    assert!(sample.contains("connection: close"), "{sample}");
    assert!(
        sample.contains("too_many_connections_from_address"),
        "{sample}"
    );
    assert!(sample.contains(&format!("limit {MAX_PER_IP}")), "{sample}");
}
