//! Slowloris against the real `gonka-admin` binary: it serves through the shared loop of
//! `gonka_core::server` with `--header-read-timeout` / `--body-read-timeout`, so a client that
//! sends half a request head and stalls is disconnected, a client that stops in the middle of
//! its body gets a 4xx or is disconnected, and the API still answers afterwards. (Plain
//! `axum::serve` keeps both connections open forever, and this test then fails at its deadline.)
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
        .write_all(b"GET /admin/v1/nodes HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

async fn half_a_body(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /admin/v1/nodes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":",
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
        reply.is_empty() || reply.split(' ').nth(1).unwrap_or("").starts_with('4'),
        "a stalled request body got {reply:?}"
    );

    let nodes = reqwest::get(format!("{}/admin/v1/nodes", admin.base()))
        .await
        .unwrap();
    assert_eq!(nodes.status(), 200);
}
