//! Concurrent large batches do not blow up the admin process: six clients each POST an 8 MiB
//! batch at once to the real `gonka-admin` binary (SQLite registry); every request gets an answer
//! (201, or 503 with a message and `Retry-After` when the body budget is taken: the client may
//! retry), and the process's peak resident memory (`VmHWM` in `/proc/<pid>/status`) stays under
//! 600 MB (it reached about 1.5 GB before bodies in flight were bounded and batches parsed
//! without extra copies). Linux only (reads `/proc`).
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::bin::spawn_admin;
use serde_json::json;

const CLIENTS: usize = 6;
const PEAK_LIMIT_KB: u64 = 600 * 1024;

/// A JSON array of valid nodes (own hosts, many short engine arguments: many small JSON values
/// per byte) just under `limit` bytes, starting at node number `first`.
fn batch(first: usize, limit: usize) -> Vec<u8> {
    let args: Vec<String> = (0..100).map(|i| format!("-{}", i % 10)).collect();
    let mut out = b"[".to_vec();
    for i in first.. {
        let node = json!({
            "id": format!("n{i}"),
            "host": format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
            "inference_port": 5050,
            "poc_port": 8080,
            "max_concurrent": 16,
            "models": {"Qwen/QwQ-32B": {"args": args}}
        });
        let text = serde_json::to_vec(&node).unwrap();
        if out.len() + text.len() + 2 > limit {
            break;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(&text);
    }
    out.push(b']');
    out
}

/// `VmHWM` and `VmRSS` of `pid`, in KiB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_concurrent_eight_mebibyte_batches_stay_under_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let admin = spawn_admin(&dir.path().join("gonka.db"), &[]);
    let pid = admin.child.id();
    let url = format!("{}/admin/v1/nodes/batch", admin.base());
    let limit = gonka_admin::DEFAULT_BODY_LIMIT;
    let bodies: Vec<Vec<u8>> = (0..CLIENTS).map(|c| batch(c * 100_000, limit)).collect();
    let before = memory_kb(pid);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let answers = futures::future::join_all(bodies.into_iter().map(|body| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let retry_after = r.headers().contains_key("retry-after");
            (r.status().as_u16(), retry_after, r.text().await.unwrap())
        }
    }))
    .await;
    let (peak, rss) = memory_kb(pid);
    eprintln!(
        "admin memory: before {before:?} KiB (HWM, RSS); after six batches HWM {peak} KiB, RSS {rss} KiB; answers {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    for (status, retry_after, text) in &answers {
        match status {
            201 => {}
            503 => assert!(
                *retry_after && text.contains("retry"),
                "a shed batch says so and when to retry: {text}"
            ),
            other => panic!(
                "unexpected answer {other}: {}",
                &text[..text.len().min(500)]
            ),
        }
    }
    assert!(
        answers.iter().any(|a| a.0 == 201),
        "at least one batch was stored"
    );
    assert!(
        peak < PEAK_LIMIT_KB,
        "peak resident memory {peak} KiB exceeds {PEAK_LIMIT_KB} KiB"
    );
    admin.kill9();
}
