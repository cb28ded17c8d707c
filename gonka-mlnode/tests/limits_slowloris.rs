//! Slowloris against the real `gonka-mlnode` binary (simulator engine), on both listeners
//! (management and inference): clients that trickle a partial request head and stall are
//! disconnected within the header read timeout (`gonka_core::server::HEADER_READ_TIMEOUT`,
//! 30 s), 200 of them do not grow the process's memory without bound, and the agent still serves
//! afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use gonka_core::testing::read_until_closed;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longer than the 30 s header read timeout.
const WAIT: Duration = Duration::from_secs(75);

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_request_heads_are_disconnected_and_do_not_grow_memory() {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
        .args([
            "--mgmt-listen",
            "127.0.0.1:0",
            "--inference-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("ML node agent started") {
                return line;
            }
        }
        panic!("binary exited before starting");
    })
    .await
    .expect("starts within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let find = |key: &str| -> String {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap()
    };
    let addrs = [find("mgmt_addr="), find("inference_addr=")];
    let pid = child.id().unwrap();
    let before = rss_kib(pid);

    let mut slow = Vec::new();
    for i in 0..200 {
        let mut s = TcpStream::connect(&addrs[i % 2]).await.unwrap();
        for b in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " {
            s.write_all(&[*b]).await.unwrap();
        }
        slow.push(s);
    }
    let during = rss_kib(pid);
    println!("RSS: {before} KiB before, {during} KiB with 200 slow clients");
    assert!(
        during < before + 64 * 1024,
        "RSS grew from {before} KiB to {during} KiB with 200 idle slow clients"
    );

    let mut tasks = Vec::new();
    for mut s in slow {
        tasks.push(tokio::spawn(async move {
            let got = read_until_closed(&mut s, WAIT).await;
            assert!(
                !got.contains(" 200 "),
                "an incomplete request head was answered as a success"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }

    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http
        .get(format!("http://{}/api/v1/state", addrs[0]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}
