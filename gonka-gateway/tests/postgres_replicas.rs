//! Two gateway replicas sharing one PostgreSQL registry: a node registered through replica A's
//! admin API becomes routable through replica B (change feed, no polling); while A's database
//! connection is down, A's admin writes answer 503 and both replicas keep routing from their
//! in-memory view; once it is back, writes through A reach B again.
//!
//! The same holds for two `gonka-gateway` processes started with `--database postgres://...`.
//! Those announce themselves in the database and split each node's `max_concurrent` between
//! them: under load through both, a node never has more requests than its limit, and while a
//! third replica joins, no more than its limit plus one replica's share.
//!
//! Needs `GONKA_TEST_POSTGRES_URL` (see `scripts/postgres.sh`) and `psql` to create the test's own
//! database; without the URL the test prints `skipped: ...` and returns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::fake_mlnode::{FakeMlNode, FakeOptions};
use common::gateway_process::GatewayProcess;
use common::*;
use gonka_admin::PostgresRegistry;
use gonka_gateway::RunningGateway;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const URL_VAR: &str = "GONKA_TEST_POSTGRES_URL";

/// A database of its own for this test, made and dropped with `psql`.
struct TestDb {
    base: String,
    name: String,
    url: String,
}

impl TestDb {
    fn create() -> Option<Self> {
        let base = match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                println!("skipped: {URL_VAR} unset (run scripts/postgres.sh)");
                return None;
            }
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("gonka_t_gw_{}_{nanos}", std::process::id());
        psql(&base, &format!("CREATE DATABASE {name}"));
        let (main, _) = base.split_once('?').unwrap_or((&base, ""));
        let (prefix, _) = main.rsplit_once('/').unwrap();
        let url = format!("{prefix}/{name}");
        Some(Self { base, name, url })
    }

    /// The URL through `addr` instead of the server's own address.
    fn url_via(&self, addr: SocketAddr) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap();
        let (authority, path) = rest.split_once('/').unwrap();
        let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
        format!("{scheme}://{}{addr}/{path}", user.unwrap_or_default())
    }

    fn server_addr(&self) -> SocketAddr {
        let authority = self
            .url
            .split_once("://")
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap();
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        host.replace("localhost", "127.0.0.1").parse().unwrap()
    }
}

/// Removes the database also when the test fails (connections still open are closed).
impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.base)
            .args([
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql must be installed when GONKA_TEST_POSTGRES_URL is set");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A loopback TCP forwarder to the database that can cut every connection ("database down").
struct Forwarder {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Forwarder {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (up, links) = (Arc::clone(&up), Arc::clone(&links));
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            })
        };
        Self {
            addr,
            up,
            links,
            accept,
        }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
        self.down();
    }
}

async fn replica(url: &str) -> RunningGateway {
    let mut config = test_config();
    config.registry = Arc::new(PostgresRegistry::connect(url).await.unwrap());
    start(config).await
}

async fn admin(
    gw: &RunningGateway,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, String) {
    let url = format!("http://{}{path}", gw.admin_addr.unwrap());
    let mut rb = client().request(method.parse().unwrap(), url);
    if let Some(b) = body {
        rb = rb.json(b);
    }
    let resp = rb.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn chat_status(gw: &RunningGateway) -> u16 {
    client()
        .post(format!("http://{}/v1/chat/completions", gw.public_addr))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn node_registered_through_one_replica_is_routed_by_the_other() {
    let Some(db) = TestDb::create() else {
        return;
    };
    let fwd = Forwarder::start(db.server_addr()).await;
    let a = replica(&db.url_via(fwd.addr)).await;
    let b = replica(&db.url).await;
    let n1 = FakeMlNode::start(FakeOptions::serving(MODEL));
    let n2 = FakeMlNode::start(FakeOptions::serving(MODEL));

    let started = Instant::now();
    let body = serde_json::to_value(n1.config("n1", 4)).unwrap();
    let (status, text) = admin(&a, "POST", "/admin/v1/nodes", Some(&body)).await;
    assert_eq!(status, 200, "{text}");
    wait_routable(&b, MODEL, 1).await;
    println!(
        "node registered through replica A was routable through replica B after {:?}",
        started.elapsed()
    );
    assert_eq!(chat_status(&b).await, 200);
    assert_eq!(
        n1.state.received(),
        1,
        "B must have routed to the node registered via A"
    );

    // A's database goes away: its admin writes answer 503, routing goes on from memory.
    fwd.down();
    let body2 = serde_json::to_value(n2.config("n2", 4)).unwrap();
    let (status, text) = admin(&a, "POST", "/admin/v1/nodes", Some(&body2)).await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("PostgreSQL"), "{text}");
    wait_routable(&a, MODEL, 1).await;
    assert_eq!(chat_status(&a).await, 200);
    assert_eq!(chat_status(&b).await, 200);
    assert_eq!(n1.state.received(), 3);

    // It comes back: writes through A work again and reach B.
    fwd.up();
    let (status, text) = admin(&a, "POST", "/admin/v1/nodes", Some(&body2)).await;
    assert_eq!(status, 200, "{text}");
    wait_routable(&b, MODEL, 2).await;
    let (status, text) = admin(&a, "DELETE", "/admin/v1/nodes/n1", None).await;
    assert_eq!(status, 200, "{text}");
    eventually("B drops the node deleted through A", || async {
        !b.pool.snapshot().iter().any(|s| &*s.view.id == "n1")
    })
    .await;
    assert_eq!(chat_status(&b).await, 200);
    assert_eq!(
        n2.state.received(),
        1,
        "after the delete B routes to n2 only"
    );

    a.shutdown().await;
    b.shutdown().await;
    drop(fwd);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_processes_share_a_postgres_registry() {
    let Some(db) = TestDb::create() else {
        return;
    };
    let a = GatewayProcess::spawn(
        &db.url,
        &["--health-interval", "100ms", "--queue-timeout", "10s"],
    )
    .await;
    let b = GatewayProcess::spawn(
        &db.url,
        &["--health-interval", "100ms", "--queue-timeout", "10s"],
    )
    .await;
    let node = FakeMlNode::start(FakeOptions::serving(MODEL));

    let started = Instant::now();
    let resp = client()
        .post(format!("{}/admin/v1/nodes", a.admin))
        .json(&node.config("n1", 4))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // B learns the node from the change feed (LISTEN/NOTIFY), not from a request: wait until
    // B's pool lists its model (a request before that is a 404 model_not_found, since no node
    // known to B declares the model). Bounded: 30 s.
    eventually_within("B learns the node", Duration::from_secs(30), || async {
        get_json(&format!("{}/v1/models", b.public))
            .await
            .to_string()
            .contains(MODEL)
    })
    .await;
    let resp = client()
        .post(format!("{}/v1/chat/completions", b.public))
        .json(&chat_body(MODEL, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    println!(
        "process B served a request for the node registered through process A after {:?}",
        started.elapsed()
    );
    assert_eq!(node.state.received(), 1);
    let listed: serde_json::Value = client()
        .get(format!("{}/admin/v1/nodes", b.admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["node"]["id"], "n1", "{listed}");

    a.terminate().await;
    b.terminate().await;
    drop(db);
}

async fn live_replicas(gw: &GatewayProcess) -> u64 {
    get_json(&format!("{}/v1/status", gw.public)).await["replica"]["live_replicas"]
        .as_u64()
        .unwrap_or(0)
}

/// Waits (at most 30 s) until `gw`'s `/v1/status` counts `n` routable nodes.
async fn wait_routable_nodes(gw: &GatewayProcess, n: u64) {
    eventually_within(
        &format!("{} routable nodes through {}", n, gw.public),
        Duration::from_secs(30),
        || async { get_json(&format!("{}/v1/status", gw.public)).await["routable_nodes"] == n },
    )
    .await;
}

/// Waits (at most 30 s) until every replica counts `n` live replicas.
async fn wait_replicas(replicas: &[&GatewayProcess], n: u64) {
    for gw in replicas {
        eventually_within(
            &format!("replicas count {n}"),
            Duration::from_secs(30),
            || async { live_replicas(gw).await == n },
        )
        .await;
    }
}

/// `count` streamed chats spread over `replicas` (`concurrency` at once); every one must succeed.
async fn load(replicas: Vec<String>, count: usize, concurrency: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (next, replicas) = (Arc::clone(&next), replicas.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    return;
                }
                let base = &replicas[(i + w) % replicas.len()];
                let resp = client()
                    .post(format!("{base}/v1/chat/completions"))
                    .json(&chat_body(MODEL, true))
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let body = resp.text().await.unwrap();
                assert_eq!(status, 200, "request {i} through {base}: {body}");
                assert!(body.contains("[DONE]"), "request {i}: {body}");
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_split_a_nodes_max_concurrent_between_them() {
    let Some(db) = TestDb::create() else {
        return;
    };
    const MAX: usize = 4;
    let flags = [
        "--health-interval",
        "100ms",
        "--queue-timeout",
        "60s",
        "--queue-capacity",
        "1000",
    ];
    let a = GatewayProcess::spawn(&db.url, &flags).await;
    let b = GatewayProcess::spawn(&db.url, &flags).await;
    let mut options = FakeOptions::serving(MODEL);
    options.tokens = 4;
    options.token_delay = Duration::from_millis(25);
    let node = FakeMlNode::start(options);
    let resp = client()
        .post(format!("{}/admin/v1/nodes", a.admin))
        .json(&node.config("n1", MAX as u32))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_replicas(&[&a, &b], 2).await;
    for gw in [&a, &b] {
        wait_routable_nodes(gw, 1).await;
    }

    // Steady state: 32 streams at once through both replicas, 160 in all.
    node.state.max_active.store(0, Ordering::SeqCst);
    load(vec![a.public.clone(), b.public.clone()], 160, 32).await;
    let peak = node.state.max_active.load(Ordering::SeqCst);
    println!("two replicas, 32 concurrent streams: the node saw at most {peak} at once (max_concurrent {MAX})");
    assert!(
        peak <= MAX,
        "the node had {peak} streams open, over its max_concurrent {MAX}"
    );
    assert!(peak >= 2, "the load never overlapped: {peak}");

    // A change: a third replica joins while the load runs. Until every replica has re-split
    // (one beat), the node may carry at most one replica's share (2 of 4) beyond its limit.
    node.state.max_active.store(0, Ordering::SeqCst);
    let running = tokio::spawn(load(vec![a.public.clone(), b.public.clone()], 200, 32));
    let c = GatewayProcess::spawn(&db.url, &flags).await;
    wait_replicas(&[&a, &b, &c], 3).await;
    running.await.unwrap();
    let peak = node.state.max_active.load(Ordering::SeqCst);
    println!("while a third replica joined: at most {peak} at once");
    assert!(
        peak <= MAX + MAX / 2,
        "the node had {peak} streams open during the change"
    );

    // Settled on three: shares 2 + 1 + 1.
    wait_routable_nodes(&c, 1).await;
    node.state.max_active.store(0, Ordering::SeqCst);
    load(
        vec![a.public.clone(), b.public.clone(), c.public.clone()],
        150,
        30,
    )
    .await;
    let peak = node.state.max_active.load(Ordering::SeqCst);
    println!("three replicas: at most {peak} at once");
    assert!(
        peak <= MAX,
        "the node had {peak} streams open with three replicas"
    );

    // One leaves: the other two take its share back after its lease runs out.
    c.terminate().await;
    wait_replicas(&[&a, &b], 2).await;

    a.terminate().await;
    b.terminate().await;
    drop(db);
}
