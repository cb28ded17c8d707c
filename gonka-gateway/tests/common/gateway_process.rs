//! The real `gonka-gateway` binary as a child process on loopback ports, for integration tests.
//! Included with `#[path = "common/gateway_process.rs"] mod gateway_process;` (it needs only
//! tokio), or through `common::gateway_process`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_gonka-gateway");

/// A running `gonka-gateway`; killed when dropped.
pub struct GatewayProcess {
    /// The child process (stdout taken, stderr discarded).
    pub child: Child,
    /// Base URL of the public (OpenAI) listener, e.g. `http://127.0.0.1:41234`.
    pub public: String,
    /// Base URL of the admin listener.
    pub admin: String,
    /// Base URL of the PoC callback listener.
    pub poc: String,
}

impl GatewayProcess {
    /// Starts the binary with `--database database`, the three listeners on `127.0.0.1:0`,
    /// `RUST_LOG=warn` and the `extra` flags, and waits (at most 30 s) for the line on which it
    /// prints its three addresses.
    pub async fn spawn(database: &str, extra: &[&str]) -> Self {
        Self::spawn_with_env(database, extra, &[]).await
    }

    /// [`GatewayProcess::spawn`] with the environment variables `env` added.
    pub async fn spawn_with_env(database: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start(Command::new(BIN), database, extra, env).await
    }

    /// [`GatewayProcess::spawn_with_env`] with the open-file limit (soft and hard) of the process
    /// set to `nofile` (`ulimit -n` in `sh`, then `exec`), so the binary cannot raise it.
    pub async fn spawn_with_fd_limit(
        database: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        nofile: u64,
    ) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(BIN);
        Self::start(command, database, extra, env).await
    }

    async fn start(
        mut command: Command,
        database: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = command
            .args(["--database", database])
            .args(["--public-listen", "127.0.0.1:0"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(["--poc-listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("gonka-gateway prints its addresses within 30 s")
            .unwrap()
            .unwrap();
        let urls: Vec<String> = line
            .split([' ', ','])
            .filter(|w| w.starts_with("http://"))
            .map(|w| w.trim_end_matches('/').to_owned())
            .collect();
        assert_eq!(urls.len(), 3, "{line}");
        Self {
            child,
            public: urls[0].clone(),
            admin: urls[1].clone(),
            poc: urls[2].clone(),
        }
    }

    /// The socket addresses of the public, admin and PoC listeners, in that order.
    pub fn addrs(&self) -> [SocketAddr; 3] {
        [&self.public, &self.admin, &self.poc]
            .map(|url| url.trim_start_matches("http://").parse().unwrap())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Sends SIGTERM and asserts that the process exits successfully within 30 s.
    pub async fn terminate(mut self) {
        let pid = self.pid().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("gonka-gateway exits within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "{status:?}");
    }
}
