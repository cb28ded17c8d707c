//! No database password reaches the output, however malformed the URL: a table of URLs (a
//! misspelt scheme, a password containing `@`, `?` or `%40`, `?password=`, an unknown `?passwd=`,
//! a broken host, a missing `//`, a SQLite URL with a password parameter) is run through the
//! real `gonka-admin` start-up at debug level (stdout and stderr), through the library's
//! `open_registry` (the error's `Display` and `Debug`), through `ServerConfig`'s `Debug`, and
//! through `--help` with the URL in `GONKA_DATABASE_URL`. Every secret starts with `S3cret`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;

use gonka_admin::{open_registry, redact_url, ServerConfig};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gonka-admin");
const SECRET: &str = "S3cret";

/// Malformed database URLs, each holding a password that starts with [`SECRET`]. Port 1 on
/// loopback refuses connections.
fn malformed_urls(dir: &std::path::Path) -> Vec<String> {
    vec![
        "postgress://u:S3cretDbPass@127.0.0.1:1/db".into(),
        "postgres://u:p@S3cretDbPass@127.0.0.1:1/db".into(),
        "postgres://u:S3cret@DbPass@127.0.0.1:1/db".into(),
        "postgres://u:S3cret?DbPass@127.0.0.1:1/db".into(),
        "postgres://u:S3cret%40DbPass@127.0.0.1:1/db".into(),
        "postgres://127.0.0.1:1/db?password=S3cretDbPass".into(),
        "postgres://127.0.0.1:1/db?sslmode=disable&passwd=S3cretDbPass".into(),
        "postgresql://u:S3cretDbPass@[bad/db".into(),
        "postgres:u:S3cretDbPass@127.0.0.1:1/db".into(),
        "postgres//u:S3cretDbPass@127.0.0.1:1/db".into(),
        format!("sqlite://{}/x.db?password=S3cretDbPass", dir.display()),
        format!(
            "sqlite://{}/missing/x.db?mode=rwc&passwd=S3cretDbPass",
            dir.display()
        ),
    ]
}

/// Runs the binary on `database` at debug level and returns everything it printed (it exits by
/// itself on a bad database; a still-running one is killed after 10 s).
async fn output_of(database: &str) -> String {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--database", database])
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .env_remove("GONKA_ADMIN_TOKEN")
        .env_remove("GONKA_NODES_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    }
    let mut text = String::new();
    out.read_to_string(&mut text).await.unwrap();
    err.read_to_string(&mut text).await.unwrap();
    text
}

#[tokio::test]
async fn no_malformed_database_url_shows_its_password_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    for url in malformed_urls(dir.path()) {
        let text = output_of(&url).await;
        assert!(
            text.contains("database") || text.contains("URL"),
            "{url}: the failure names the database: {text}"
        );
        assert!(!text.contains(SECRET), "{url} leaks:\n{text}");
    }
}

#[tokio::test]
async fn no_malformed_database_url_shows_its_password_in_errors_or_debug_output() {
    let dir = tempfile::tempdir().unwrap();
    for url in malformed_urls(dir.path()) {
        let redacted = redact_url(&url);
        assert!(!redacted.contains(SECRET), "{url} redacted: {redacted}");
        let config = format!("{:?}", ServerConfig::new(url.clone()));
        assert!(!config.contains(SECRET), "{url} in ServerConfig: {config}");
        let e = match tokio::time::timeout(Duration::from_secs(10), open_registry(&url)).await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => panic!("{url} opened"),
            Err(_) => panic!("{url}: open did not end within 10 s"),
        };
        let (display, debug) = (e.to_string(), format!("{e:?}"));
        assert!(!display.contains(SECRET), "{url}: {display}");
        assert!(!debug.contains(SECRET), "{url}: {debug}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            assert!(!s.to_string().contains(SECRET), "{url}: cause {s}");
            source = s.source();
        }
    }
}

#[tokio::test]
async fn help_does_not_show_the_database_url_from_the_environment() {
    let out = Command::new(BIN)
        .arg("--help")
        .env(
            "GONKA_DATABASE_URL",
            "postgres://u:S3cretDbPass@127.0.0.1:1/db",
        )
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("--database"), "{text}");
    assert!(!text.contains(SECRET), "--help leaks:\n{text}");
}
