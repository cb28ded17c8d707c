//! Slowloris and oversize bodies against the real `gonka-gateway` binary, on all three listeners
//! (public, admin, PoC): a client that sends its request head byte by byte and then stalls, or
//! stops sending its body, is answered or disconnected within the read timeouts of
//! `gonka_gateway::http_serve` (30 s each); 200 such clients do not grow the process's memory
//! without bound; a body over the limit gets 413 with a JSON message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use gonka_core::testing::read_until_closed;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[path = "common/gateway_process.rs"]
mod gateway_process;

use gateway_process::GatewayProcess;

/// Starts the binary on a memory registry with a 64 KiB public body limit; `extra` adds flags.
async fn spawn_gateway(extra: &[&str]) -> (GatewayProcess, [SocketAddr; 3]) {
    let mut flags = vec!["--body-limit", "65536"];
    flags.extend_from_slice(extra);
    let gateway = GatewayProcess::spawn("memory:", &flags).await;
    let addrs = gateway.addrs();
    (gateway, addrs)
}
/// Longer than the 30 s read timeouts, so a connection still open then was never cut.
const WAIT: Duration = Duration::from_secs(75);

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A client that trickles part of a request head and then stalls.
async fn slow_head(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for b in b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Slow: " {
        stream.write_all(&[*b]).await.unwrap();
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_clients_are_disconnected_and_do_not_grow_memory() {
    let (child, addrs) = spawn_gateway(&[]).await;
    let pid = child.pid();
    let before = rss_kib(pid);

    // 200 slowloris connections spread over the three listeners, plus one per listener that
    // stops in the middle of its body.
    let mut heads = Vec::new();
    for i in 0..200 {
        heads.push(slow_head(addrs[i % 3]).await);
    }
    let mut bodies = Vec::new();
    for addr in &addrs {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"POST /admin/v1/nodes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":",
        )
        .await
        .unwrap();
        bodies.push(s);
    }
    let during = rss_kib(pid);
    println!("RSS: {before} KiB before, {during} KiB with 203 slow clients");
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} KiB to {during} KiB with 203 idle slow clients"
    );

    let mut tasks = Vec::new();
    for mut s in heads.into_iter().chain(bodies) {
        tasks.push(tokio::spawn(async move {
            read_until_closed(&mut s, WAIT).await
        }));
    }
    let mut answered = 0;
    for t in tasks {
        let reply = t.await.unwrap();
        if !reply.is_empty() {
            // A stalled body ends its request with an error status, never a success.
            let status = reply.split(' ').nth(1).unwrap_or("");
            assert!(status.starts_with('4'), "a stalled request got {reply:?}");
            answered += 1;
        }
    }
    println!("all slow connections closed ({answered} with an error response first)");

    // The server still serves normal clients afterwards.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for url in [
        format!("http://{}/health", addrs[0]),
        format!("http://{}/admin/v1/nodes", addrs[1]),
        format!("http://{}/health", addrs[2]),
    ] {
        let r = http.get(&url).send().await.unwrap();
        assert!(
            r.status().is_success() || r.status().as_u16() == 503,
            "{url}: {}",
            r.status()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_bodies_get_413_with_a_json_message_on_every_listener() {
    let dir = tempfile::tempdir().unwrap();
    let poc_db = format!("sqlite://{}", dir.path().join("poc.db").display());
    let (_child, addrs) = spawn_gateway(&["--poc", "--poc-database", &poc_db]).await;
    // Public: a small over-limit body (all of it is sent before the answer) through a real client.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let padded = format!("{{\"model\":\"m\",\"pad\":\"{}\"}}", "x".repeat(64 * 1024));
    let r = http
        .post(format!("http://{}/v1/chat/completions", addrs[0]))
        .header("content-type", "application/json")
        .body(padded)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let value: serde_json::Value = r.json().await.unwrap();
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65536"),
        "the message names the limit: {value}"
    );
    // Admin: one byte over its limit gets a JSON error naming the problem.
    let r = http
        .post(format!("http://{}/admin/v1/nodes", addrs[1]))
        .header("content-type", "application/json")
        .body(vec![b' '; gonka_admin::DEFAULT_BODY_LIMIT + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let value: serde_json::Value = r.json().await.unwrap();
    let text = value.to_string().to_lowercase();
    assert!(
        text.contains("large") || text.contains("limit") || text.contains("bytes"),
        "admin 413 body does not say what is wrong: {value}"
    );
    // PoC callbacks: 413 with a JSON body naming the limit.
    let r = http
        .post(format!("http://{}/v2/poc-batches/m/generated", addrs[2]))
        .header("content-type", "application/json")
        .body(vec![
            b' ';
            gonka_gateway::poc::receiver::MAX_CALLBACK_BYTES + 1
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let value: serde_json::Value = r.json().await.unwrap();
    assert!(
        value["error"]
            .as_str()
            .unwrap()
            .contains("length limit exceeded"),
        "PoC 413 body does not say what is wrong: {value}"
    );
}

/// Sends a request head announcing 1,000 body bytes and only part of the body, then stalls.
async fn half_a_body(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_bodies_get_408_and_a_closed_connection_on_the_public_and_admin_listeners() {
    let (_child, addrs) = spawn_gateway(&["--body-read-timeout", "1s"]).await;
    for (addr, path) in [
        (addrs[0], "/v1/chat/completions"),
        (addrs[1], "/admin/v1/nodes"),
    ] {
        let mut s = half_a_body(addr, path).await;
        let reply = read_until_closed(&mut s, WAIT).await;
        assert!(reply.starts_with("HTTP/1.1 408 "), "{path}: {reply:?}");
        assert!(reply.contains("connection: close"), "{path}: {reply:?}");
        let body = reply.split_once("\r\n\r\n").unwrap().1;
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["error"]["code"], "request_timeout", "{path}: {value}");
    }
}
