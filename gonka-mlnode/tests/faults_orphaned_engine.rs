//! An ML node agent killed with SIGKILL leaves no engine behind: the engine (a real separate
//! process, the Python fake vLLM) dies with the `gonka-mlnode` binary by its parent-death signal,
//! and an engine that survives anyway (it ignores SIGTERM), or workers a dead engine left in its
//! process group, are stopped by the next agent started on the same state directory, which then
//! runs exactly one engine.
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
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// A model name no other test uses: it appears on the engine's command line, so the engine
/// processes of one test are found by scanning `/proc`.
fn marker(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("orphan-{test}-{}-{nanos}", std::process::id())
}

/// A running `gonka-mlnode` binary and the lines it logged.
struct Agent {
    child: Child,
    mgmt: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts the binary serving `model` with the fake vLLM, `engine_args` and `state_dir` (in
    /// the environment) and waits for its "started" line.
    async fn start(model: &str, engine_args: &[String], state_dir: Option<&Path>) -> Agent {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gonka-mlnode"));
        command
            .args(["--engine", "vllm", "--model", model])
            .args(["--mgmt-listen", "127.0.0.1:0"])
            .args(["--inference-listen", "127.0.0.1:0"])
            .args(["--grace-period", "2s", "--drain-timeout", "500ms"])
            .arg("--engine-cmd")
            .arg(format!("python3 {}", common::fake_engine().display()))
            .args(engine_args.iter().map(|a| format!("--engine-arg={a}")))
            .env_remove("GONKA_MLNODE_STATE_DIR")
            .env_remove("GONKA_MLNODE_LOG_DIR")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = state_dir {
            command.env("GONKA_MLNODE_STATE_DIR", dir);
        }
        let mut child = command.spawn().unwrap();
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

    /// Waits until the engine answers ready; its pid.
    async fn engine_pid(&self) -> u32 {
        let http = client();
        let state: Value = eventually("the engine ready", || async {
            let s: Value = http
                .get(format!("http://{}/api/v1/state", self.mgmt))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (s["inference_healthy"] == true).then_some(s)
        })
        .await;
        u32::try_from(state["pid"].as_u64().unwrap()).unwrap()
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

fn pid_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".pid"))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn engine_dies_with_its_agent_killed_by_sigkill() {
    let model = marker("pdeathsig");
    let mut cleanup = Cleanup {
        marker: model.clone(),
        pids: vec![],
    };
    let agent = Agent::start(&model, &[], None).await;
    cleanup.pids.push(agent.pid());
    let engine = agent.engine_pid().await;
    assert_eq!(engines(&model), [engine]);

    let status = agent.signal_and_wait(Signal::SIGKILL).await;
    assert!(!status.success());
    eventually("the engine to die with its agent", || async {
        (!alive(engine)).then_some(())
    })
    .await;
    assert_eq!(engines(&model), Vec::<u32>::new());
}

/// The name of the agent's thread that forked `child` (`/proc/<agent>/task/<tid>/children` lists
/// the children of each thread: the parent-death signal follows that thread).
fn forking_thread(agent: u32, child: u32) -> String {
    let tasks = std::fs::read_dir(format!("/proc/{agent}/task")).unwrap();
    for task in tasks {
        let task = task.unwrap().path();
        let children = std::fs::read_to_string(task.join("children"))
            .expect("the kernel lists a thread's children (CONFIG_PROC_CHILDREN)");
        if children.split_whitespace().any(|c| c == child.to_string()) {
            return std::fs::read_to_string(task.join("comm"))
                .unwrap()
                .trim()
                .to_owned();
        }
    }
    panic!("no thread of agent {agent} has {child} as a child");
}

#[tokio::test]
async fn engine_is_forked_by_the_long_lived_engine_spawner_thread() {
    let model = marker("spawner");
    let mut cleanup = Cleanup {
        marker: model.clone(),
        pids: vec![],
    };
    let agent = Agent::start(&model, &[], None).await;
    cleanup.pids.push(agent.pid());
    let engine = agent.engine_pid().await;
    // Not a tokio worker or blocking-pool thread, which may end while the agent lives on.
    assert_eq!(forking_thread(agent.pid(), engine), "engine-spawner");
    assert!(agent.signal_and_wait(Signal::SIGTERM).await.success());
}

#[tokio::test]
async fn restarted_agent_stops_the_engine_its_killed_predecessor_left() {
    let model = marker("survivor");
    let state = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup {
        marker: model.clone(),
        pids: vec![],
    };
    // An engine that ignores SIGTERM outlives an agent killed with SIGKILL.
    let first = Agent::start(
        &model,
        &["--fake-ignore-sigterm".into()],
        Some(state.path()),
    )
    .await;
    cleanup.pids.push(first.pid());
    let survivor = first.engine_pid().await;
    first.signal_and_wait(Signal::SIGKILL).await;
    assert!(
        alive(survivor),
        "precondition: the engine survived its agent"
    );
    assert_eq!(engines(&model), [survivor]);

    let second = Agent::start(&model, &[], Some(state.path())).await;
    cleanup.pids.push(second.pid());
    let engine = second.engine_pid().await;
    assert_ne!(engine, survivor);
    assert_eq!(engines(&model), [engine], "exactly one engine runs");
    assert!(!alive(survivor));
    assert!(second.logged("stopped an engine left running by a previous agent"));
    assert!(second.logged(&format!("pid={survivor}")));
    assert_eq!(pid_files(state.path()), ["engine-0.pid"]);

    // A normal stop stops the engine and removes its pid file.
    assert!(second.signal_and_wait(Signal::SIGTERM).await.success());
    assert!(!alive(engine));
    assert_eq!(pid_files(state.path()), Vec::<String>::new());
}

#[tokio::test]
async fn restarted_agent_stops_workers_a_dead_engine_left_in_its_group() {
    let model = marker("workers");
    let state = tempfile::tempdir().unwrap();
    let worker_file = state.path().join("worker.pid.txt");
    let mut cleanup = Cleanup {
        marker: model.clone(),
        pids: vec![],
    };
    let first = Agent::start(
        &model,
        &[format!("--fake-child-pid-file={}", worker_file.display())],
        Some(state.path()),
    )
    .await;
    cleanup.pids.push(first.pid());
    let engine = first.engine_pid().await;
    let worker: u32 = std::fs::read_to_string(&worker_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    cleanup.pids.push(worker);
    first.signal_and_wait(Signal::SIGKILL).await;
    eventually("the engine to die with its agent", || async {
        (!alive(engine)).then_some(())
    })
    .await;
    assert!(
        alive(worker),
        "precondition: the engine's worker outlived it"
    );

    let second = Agent::start(&model, &[], Some(state.path())).await;
    cleanup.pids.push(second.pid());
    let engine = second.engine_pid().await;
    assert!(
        !alive(worker),
        "the worker left in the dead engine's group runs on"
    );
    assert_eq!(engines(&model), [engine]);
    assert!(second.signal_and_wait(Signal::SIGTERM).await.success());
}
