//! The large-body budget against the real `gonka-admin` binary, which serves through
//! `gonka_core::server` (every request body wrapped in the body read timeout): a small upsert
//! declares its `Content-Length`, so it never waits behind a large batch that holds the whole
//! budget. (When the timeout wrapper hid the length, every small request was charged as a
//! maximal body, waited for the budget and answered 503.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::bin::spawn_admin;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_upsert_is_served_while_a_large_batch_holds_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let admin = spawn_admin(
        &dir.path().join("gonka.db"),
        &["--body-read-timeout", "60s"],
    );

    // A batch declaring (almost) the whole 8 MiB budget, of which only the start arrives.
    let declared = 8 * 1024 * 1024 - 1;
    let mut large = TcpStream::connect(admin.addr).await.unwrap();
    large
        .write_all(
            format!(
                "POST /admin/v1/nodes/batch HTTP/1.1\r\nHost: localhost\r\n\
                 Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n[{{\"id\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    large.write_all(&vec![b' '; 256 * 1024]).await.unwrap();
    large.flush().await.unwrap();
    // The batch is being read (and holds the budget) once the server has taken its bytes; a
    // request sent before that may simply go first, which proves nothing but fails nothing.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let node = common::numbered_node(1);
    let reply = reqwest::Client::new()
        .post(format!("{}/admin/v1/nodes", admin.base()))
        .json(&node)
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let body = reply.text().await.unwrap();
    assert!(
        status.is_success(),
        "a small upsert behind a large batch answered {status}: {body}"
    );
    drop(large);
}
