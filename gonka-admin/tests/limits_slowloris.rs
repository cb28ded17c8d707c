//! Slowloris against the real `gonka-admin` binary: it serves through the shared loop of
//! `gonka_core::server` with `--header-read-timeout` / `--body-read-timeout`, so a client that
//! sends half a request head and stalls is disconnected, a client that stops in the middle of
//! its body gets 408 (the status `--help` promises) and is disconnected, thousands of half-open
//! connections are all cut, and the API still answers afterwards. (Plain `axum::serve` keeps
//! every such connection open forever, and these tests then fail at their deadline.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::bin::spawn_admin;
use gonka_core::testing::read_until_closed;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Far longer than the 1 s read timeouts the binary runs with here: a connection still open then
/// was never cut.
const DEADLINE: Duration = Duration::from_secs(60);

async fn half_a_head(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /admin/v1/nodes HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

async fn half_a_body(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /admin/v1/nodes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":",
        )
        .await
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_cut_by_the_read_timeouts_and_the_api_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let admin = spawn_admin(
        &dir.path().join("gonka.db"),
        &["--header-read-timeout", "1s", "--body-read-timeout", "1s"],
    );

    let mut head = half_a_head(admin.addr).await;
    let mut body = half_a_body(admin.addr).await;

    let reply = read_until_closed(&mut head, DEADLINE).await;
    assert!(
        reply.is_empty() || reply.split(' ').nth(1).unwrap_or("").starts_with('4'),
        "a stalled request head got {reply:?}"
    );
    let reply = read_until_closed(&mut body, DEADLINE).await;
    assert!(
        reply.starts_with("HTTP/1.1 408 "),
        "a stalled request body got {reply:?}"
    );
    assert!(
        reply.contains("connection: close"),
        "a stalled request body got {reply:?}"
    );

    let nodes = reqwest::get(format!("{}/admin/v1/nodes", admin.base()))
        .await
        .unwrap();
    assert_eq!(nodes.status(), 200);
}

/// Half-open connections opened by [`half_open_connections_are_all_cut_and_the_api_still_serves`]:
/// 3,000 when this process may open that many descriptors (after raising its soft limit to the
/// hard one), else a third of what it may open.
fn half_open_count() -> usize {
    gonka_core::server::raise_fd_limit();
    let budget = gonka_core::server::fd_soft_limit() / 3;
    usize::try_from(budget.min(3_000)).unwrap()
}

/// A connection from `127.0.0.<1 + i % 8>` (eight client addresses, all loopback) that sends half
/// a request head and stalls.
async fn half_a_head_from(i: usize, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("127.0.0.{}:0", 1 + i % 8).parse().unwrap())
        .unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /admin/v1/nodes HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_all_cut_and_the_api_still_serves() {
    let n = half_open_count();
    assert!(n >= 300, "too few descriptors for this test: {n}");
    let dir = tempfile::tempdir().unwrap();
    let admin = spawn_admin(
        &dir.path().join("gonka.db"),
        &["--header-read-timeout", "1s"],
    );

    let mut readers = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = half_a_head_from(i, admin.addr).await;
        readers.push(tokio::spawn(async move {
            read_until_closed(&mut stream, DEADLINE).await
        }));
    }
    for reader in readers {
        // Cut by the header read timeout (nothing, or 408), or shed over a connection cap (503).
        let reply = reader.await.unwrap();
        let status = reply.split(' ').nth(1).unwrap_or("");
        assert!(
            reply.is_empty() || status == "408" || status == "503",
            "a half-open connection got {reply:?}"
        );
    }
    println!("{n} half-open connections cut");

    let nodes = reqwest::get(format!("{}/admin/v1/nodes", admin.base()))
        .await
        .unwrap();
    assert_eq!(nodes.status(), 200);
}
