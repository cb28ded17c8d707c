//! The `gonka-admin` binary refuses settings that would leave the admin API open by mistake: an
//! empty token (`GONKA_ADMIN_TOKEN=`) is a start-up error, not "no auth", and listening beyond
//! loopback without a token needs `--allow-unauthenticated` (then a warning is logged).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn admin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gonka-admin"));
    c.args(["--database", "memory:"])
        .env("RUST_LOG", "info")
        .env_remove("GONKA_ADMIN_TOKEN")
        .env_remove("GONKA_ADMIN_LISTEN")
        .env_remove("GONKA_ADMIN_ALLOW_UNAUTHENTICATED");
    c
}

/// Runs `command`, which must exit by itself (it refuses to start), within 30 s.
fn run_to_exit(mut command: Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let id = child.id();
    std::thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            // Still running after 30 s: it did not refuse to start; end it so the test fails.
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = tx.send(());
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn empty_token_is_a_start_up_error() {
    let mut from_env = admin();
    from_env
        .args(["--listen", "127.0.0.1:0"])
        .env("GONKA_ADMIN_TOKEN", "");
    let mut from_flag = admin();
    from_flag.args(["--listen", "127.0.0.1:0", "--token", ""]);
    for command in [from_env, from_flag] {
        let out = run_to_exit(command);
        let log = text(&out);
        assert!(!out.status.success(), "started with an empty token:\n{log}");
        assert!(
            log.contains("token is set but empty") && log.contains("GONKA_ADMIN_TOKEN"),
            "{log}"
        );
    }
}

#[test]
fn non_loopback_listen_without_token_is_refused() {
    let mut command = admin();
    command.args(["--listen", "0.0.0.0:0"]);
    let out = run_to_exit(command);
    let log = text(&out);
    assert!(
        !out.status.success(),
        "started unauthenticated on 0.0.0.0:\n{log}"
    );
    for needle in [
        "0.0.0.0:0",
        "without a token",
        "--allow-unauthenticated",
        "--token",
    ] {
        assert!(log.contains(needle), "the refusal lacks {needle:?}:\n{log}");
    }
}

#[test]
fn non_loopback_listen_with_allow_unauthenticated_warns_and_serves() {
    // Binds every interface for the moment it takes to log the warning; only the exit is checked.
    let mut child = admin()
        .args(["--listen", "0.0.0.0:0", "--allow-unauthenticated"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let mut warned = false;
    let mut listening = false;
    while !(warned && listening) {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            break;
        };
        warned |= line.contains("WARN") && line.contains("without a token");
        listening |= line.contains("admin API listening");
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        warned && listening,
        "no warning, or not serving:\n{}",
        seen.join("\n")
    );
}
