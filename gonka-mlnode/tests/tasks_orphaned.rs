//! A task instance whose agent (the real `gonka-mlnode` binary) was killed with SIGKILL and that
//! survived it (the fake vLLM ignoring SIGTERM) is stopped by the next agent started on the same
//! state directory, from the instance's `engine-task-{id}.pid` file.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/orphans.rs"]
mod orphans;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{alive, client, eventually};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use orphans::{engines, Cleanup};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

struct Agent {
    child: Child,
    mgmt: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// The binary with the fake vLLM as its engine command and `state_dir`, no model up.
    async fn start(state_dir: &Path) -> Agent {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"))
            .args(["--engine", "vllm"])
            .args(["--mgmt-listen", "127.0.0.1:0"])
            .args(["--inference-listen", "127.0.0.1:0"])
            .args(["--grace-period", "2s", "--drain-timeout", "500ms"])
            .arg("--engine-cmd")
            .arg(format!("python3 {}", common::fake_engine().display()))
            .env_remove("GONKA_MLNODE_LOG_DIR")
            .env("GONKA_MLNODE_STATE_DIR", state_dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                log.lock().unwrap().push(line.clone());
                if line.contains("ML node agent started") {
                    return line;
                }
            }
            panic!("binary exited before starting: {:?}", log.lock().unwrap());
        })
        .await
        .unwrap();
        let sink = Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });
        let mgmt = started
            .split_whitespace()
            .find_map(|w| w.strip_prefix("mgmt_addr="))
            .unwrap()
            .trim_matches('"')
            .to_owned();
        Agent { child, mgmt, log }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    async fn signal_and_wait(mut self, signal: Signal) -> std::process::ExitStatus {
        kill(Pid::from_raw(i32::try_from(self.pid()).unwrap()), signal).unwrap();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap()
    }

    fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

#[tokio::test]
async fn the_next_agent_stops_a_task_instance_its_killed_predecessor_left() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let marker = format!("orphan-task-{}-{nanos}", std::process::id());
    let state = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup {
        marker: marker.clone(),
        pids: vec![],
    };
    let first = Agent::start(state.path()).await;
    cleanup.pids.push(first.pid());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let http = client();
    let r = http
        .put(format!("http://{}/api/v1/tasks/t-orphan", first.mgmt))
        .json(&json!({
            "model": "orphan-chat", "model_path": marker, "engine": "vllm", "port": port,
            "args": ["--fake-ignore-sigterm"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    eventually("the instance running", || async {
        let t: Value = http
            .get(format!("http://{}/api/v1/tasks/t-orphan", first.mgmt))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (t["state"] == "running").then_some(())
    })
    .await;
    let survivor = engines(&marker);
    assert_eq!(survivor.len(), 1);
    assert!(state.path().join("engine-task-t-orphan.pid").exists());

    first.signal_and_wait(Signal::SIGKILL).await;
    assert!(
        alive(survivor[0]),
        "precondition: the instance survived its agent"
    );

    let second = Agent::start(state.path()).await;
    cleanup.pids.push(second.pid());
    assert!(!alive(survivor[0]), "the next agent stopped it");
    assert_eq!(engines(&marker), Vec::<u32>::new());
    assert!(second.logged("stopped an engine left running by a previous agent"));
    assert!(!state.path().join("engine-task-t-orphan.pid").exists());
    let tasks: Value = http
        .get(format!("http://{}/api/v1/tasks", second.mgmt))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        tasks,
        json!({"tasks": []}),
        "the new agent holds no instance"
    );
    let log = Arc::clone(&second.log);
    let status = second.signal_and_wait(Signal::SIGTERM).await;
    assert!(status.success(), "{status}: {:?}", log.lock().unwrap());
}
