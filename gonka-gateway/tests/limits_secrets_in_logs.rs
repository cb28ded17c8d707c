//! No secret reaches the logs: the `gonka-gateway` binary started at debug level with a database
//! password, an admin token, an ML node token and an API key prints none of them, neither while
//! serving (memory registry) nor when the PostgreSQL database is unreachable (its error names the
//! URL with the password redacted).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gonka-gateway");
const SECRETS: [&str; 4] = [
    "DbPassw0rdSecret",
    "AdminTokenSecret",
    "MlnodeTokenSecret",
    "sk-ApiKeySecret",
];

/// Runs the binary with every secret set and `database`, lets it work for a moment (it exits
/// by itself when the database is unreachable), and returns everything it printed.
async fn output_of(database: &str, keys_file: &std::path::Path) -> String {
    let mut child = Command::new(BIN)
        .args([
            "--database",
            database,
            "--public-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--poc-listen",
            "127.0.0.1:0",
            "--admin-token",
            SECRETS[1],
            "--mlnode-token",
            SECRETS[2],
            "--api-keys-file",
        ])
        .arg(keys_file)
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let exited = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    if exited.is_err() {
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    let mut text = String::new();
    out.read_to_string(&mut text).await.unwrap();
    err.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test]
async fn secrets_never_appear_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{}\n", SECRETS[3])).unwrap();

    let serving = output_of("memory:", &keys).await;
    assert!(
        serving.contains("http://127.0.0.1:"),
        "it started: {serving}"
    );
    let unreachable = output_of(
        &format!("postgres://gonka:{}@127.0.0.1:1/gonka", SECRETS[0]),
        &keys,
    )
    .await;
    assert!(
        unreachable.contains("127.0.0.1:1") || unreachable.contains("database"),
        "the failure names the database: {unreachable}"
    );
    for text in [&serving, &unreachable] {
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{secret} appears in the output:\n{text}"
            );
        }
    }
}

/// Malformed database URLs (misspelt scheme, `@` or `?` in the password, `?password=`, an
/// unknown `?passwd=`, no `//`) fail the start-up without printing their password.
#[tokio::test]
async fn malformed_database_urls_never_show_their_password() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("{}\n", SECRETS[3])).unwrap();
    for url in [
        "postgress://gonka:DbPassw0rdSecret@127.0.0.1:1/gonka",
        "postgres://gonka:p@DbPassw0rdSecret@127.0.0.1:1/gonka",
        "postgres://gonka:DbPassw0rdSecret?x@127.0.0.1:1/gonka",
        "postgres://127.0.0.1:1/gonka?password=DbPassw0rdSecret",
        "postgres://127.0.0.1:1/gonka?passwd=DbPassw0rdSecret",
        "postgresql://gonka:DbPassw0rdSecret@[bad/gonka",
        "postgres:gonka:DbPassw0rdSecret@127.0.0.1:1/gonka",
    ] {
        let text = output_of(url, &keys).await;
        assert!(
            text.contains("database"),
            "{url}: the failure names the database: {text}"
        );
        assert!(!text.contains(SECRETS[0]), "{url} leaks:\n{text}");
    }
}
