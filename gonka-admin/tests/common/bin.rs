//! Running the real `gonka-admin` binary as a child process on a loopback port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `gonka-admin` process.
pub struct AdminProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl AdminProcess {
    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gonka-admin did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for AdminProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Starts `gonka-admin --listen 127.0.0.1:<free port> --database sqlite://<db> EXTRA...` and
/// waits until it accepts connections. Retries with another port if the chosen one was taken.
pub fn spawn_admin(db: &Path, extra: &[&str]) -> AdminProcess {
    for _attempt in 0..5 {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gonka-admin"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database")
            .arg(format!("sqlite://{}", db.display()))
            .args(extra)
            .env("RUST_LOG", "warn")
            .env_remove("GONKA_ADMIN_TOKEN")
            .env_remove("GONKA_GOVERNANCE_MODELS")
            .env_remove("GONKA_NODES_FILE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().unwrap().is_some() {
                break; // exited (port taken?): try another port
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return AdminProcess { child, addr };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("gonka-admin did not start listening on {addr} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("gonka-admin failed to start 5 times");
}
