//! Two `gonka-admin` processes started at the same moment on a new SQLite file both start and
//! serve: the schema migrations are serialised, not raced (one used to exit with "table nodes
//! already exists" in about 6 of 10 tries). Ten rounds, each on a fresh file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROUNDS: usize = 10;

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn spawn(db: &std::path::Path, addr: SocketAddr) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--database")
        .arg(format!("sqlite://{}", db.display()))
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("GONKA_ADMIN_TOKEN")
        .env_remove("GONKA_GOVERNANCE_MODELS")
        .env_remove("GONKA_NODES_FILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `GET /admin/v1/nodes` until it answers 200 (`Ok`) or the process exits (`Err` with its
/// stderr), for at most 30 s.
async fn serves(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return Err(format!("exited with {status}: {err}"));
        }
        if let Ok(r) = client
            .get(format!("http://{addr}/admin/v1/nodes"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            if r.status() == 200 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("did not serve within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn two_processes_started_together_on_a_new_file_both_serve() {
    let mut failures = Vec::new();
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.db");
        let (a, b) = (free_addr(), free_addr());
        let mut first = spawn(&db, a);
        let mut second = spawn(&db, b);
        for (name, child, addr) in [("first", &mut first, a), ("second", &mut second, b)] {
            if let Err(e) = serves(child, addr).await {
                failures.push(format!("round {round}, {name}: {e}"));
            }
        }
        for child in [&mut first, &mut second] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ROUNDS} rounds lost a process:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
