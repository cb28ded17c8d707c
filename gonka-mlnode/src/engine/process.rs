//! [`ProcessBackend`]: runs one engine process (vLLM, SGLang, llama-server) and supervises it.
//!
//! The process is spawned in its own process group with stdout/stderr captured into an
//! [`EngineLog`]. Start-up waits for the engine's readiness probe, watching the process so a
//! start-up crash is reported at once with the engine's own last error line. Once ready, the
//! supervisor restarts the engine with exponential backoff when it dies (or stops answering its
//! health probe), resets the failure count after a healthy period and gives up after N
//! consecutive failures (health `Failed(reason)`). Stop sends SIGTERM to the group, SIGKILL after
//! the grace period, reaps the child and frees the port.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gonka_core::{EngineHealth, Error, InferenceBackend, LaunchSpec, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{EngineCommand, EngineLog, ProcessOptions};

/// Time given to the output readers to deliver the last lines after the process exits.
const DRAIN_OUTPUT: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Status {
    health: EngineHealth,
    base_url: Option<String>,
    pid: Option<u32>,
    last_error: Option<String>,
    restarts: u32,
}

#[derive(Debug)]
struct Shared {
    status: Mutex<Status>,
    log: EngineLog,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn read<T>(&self, f: impl FnOnce(&Status) -> T) -> T {
        f(&self.status.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Debug)]
struct Running {
    model: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A supervised engine process. See the module docs for the behaviour.
#[derive(Debug)]
pub struct ProcessBackend {
    options: Arc<ProcessOptions>,
    client: reqwest::Client,
    shared: Arc<Shared>,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl ProcessBackend {
    /// A stopped backend with `options`.
    pub fn new(options: ProcessOptions) -> Self {
        let log = EngineLog::new(options.log_file.clone());
        Self {
            options: Arc::new(options),
            client: crate::http_client(),
            shared: Arc::new(Shared {
                status: Mutex::new(Status {
                    health: EngineHealth::Stopped,
                    base_url: None,
                    pid: None,
                    last_error: None,
                    restarts: 0,
                }),
                log,
            }),
            running: tokio::sync::Mutex::new(None),
        }
    }

    /// The last lines the engine printed (stdout and stderr), oldest first.
    pub fn log_tail(&self) -> Vec<String> {
        self.shared.log.tail()
    }
}

#[async_trait]
impl InferenceBackend for ProcessBackend {
    fn kind(&self) -> &'static str {
        self.options.kind.as_str()
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<()> {
        let first_rx = {
            let mut running = self.running.lock().await;
            if let Some(r) = running.as_ref() {
                if !r.task.is_finished() {
                    return if r.model == spec.model {
                        Ok(())
                    } else {
                        Err(Error::Busy(format!("engine is running model {}", r.model)))
                    };
                }
            }
            let command = self.options.command(spec).map_err(Error::Engine)?;
            tracing::info!(engine = self.kind(), %command, "starting engine");
            self.shared.update(|s| {
                s.health = EngineHealth::Starting;
                s.last_error = None;
                s.restarts = 0;
            });
            let (stop_tx, stop_rx) = watch::channel(false);
            let (first_tx, first_rx) = oneshot::channel();
            let supervisor = Supervisor {
                options: Arc::clone(&self.options),
                client: self.client.clone(),
                shared: Arc::clone(&self.shared),
                command,
                base_url: format!("http://127.0.0.1:{}", spec.port),
                stop: stop_rx,
                first: Some(first_tx),
            };
            *running = Some(Running {
                model: spec.model.clone(),
                stop: stop_tx,
                task: tokio::spawn(supervisor.run()),
            });
            first_rx
        };
        match first_rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(Error::Engine(reason)),
            Err(_) => Err(Error::Engine(
                "engine supervisor ended before the engine was ready".into(),
            )),
        }
    }

    async fn stop(&self) -> Result<()> {
        let running = self.running.lock().await.take();
        if let Some(r) = running {
            let _ = r.stop.send(true);
            r.task
                .await
                .map_err(|e| Error::Engine(format!("engine supervisor failed: {e}")))?;
        }
        self.shared.update(|s| {
            s.health = EngineHealth::Stopped;
            s.base_url = None;
            s.pid = None;
        });
        Ok(())
    }

    async fn health(&self) -> EngineHealth {
        self.shared.read(|s| s.health.clone())
    }

    fn base_url(&self) -> Option<String> {
        self.shared.read(|s| s.base_url.clone())
    }

    fn pid(&self) -> Option<u32> {
        self.shared.read(|s| s.pid)
    }

    fn last_error(&self) -> Option<String> {
        self.shared.read(|s| s.last_error.clone())
    }

    fn restarts(&self) -> u32 {
        self.shared.read(|s| s.restarts)
    }
}

/// How one run of the process ended.
enum Outcome {
    /// Stopped on request; nothing left running.
    Stopped,
    /// Never became ready.
    StartFailed(String),
    /// Was ready, then died or hung.
    Died { reason: String, ready_for: Duration },
}

struct Supervisor {
    options: Arc<ProcessOptions>,
    client: reqwest::Client,
    shared: Arc<Shared>,
    command: EngineCommand,
    base_url: String,
    stop: watch::Receiver<bool>,
    first: Option<oneshot::Sender<std::result::Result<(), String>>>,
}

impl Supervisor {
    async fn run(mut self) {
        let backoff = self.options.backoff.clone();
        let mut failures = 0u32;
        loop {
            let reason = match self.run_once().await {
                Outcome::Stopped => {
                    self.shared.update(|s| {
                        s.health = EngineHealth::Stopped;
                        s.base_url = None;
                        s.pid = None;
                    });
                    return;
                }
                Outcome::StartFailed(reason) => {
                    if let Some(first) = self.first.take() {
                        tracing::error!(%reason, "engine failed to start");
                        self.shared.update(|s| {
                            s.health = EngineHealth::Failed(reason.clone());
                            s.last_error = Some(reason.clone());
                            s.pid = None;
                        });
                        let _ = first.send(Err(reason));
                        return;
                    }
                    reason
                }
                Outcome::Died { reason, ready_for } => {
                    if ready_for >= backoff.reset_after {
                        failures = 0;
                    }
                    reason
                }
            };
            failures += 1;
            if failures >= backoff.max_failures {
                let reason =
                    format!("engine failed {failures} times in a row, giving up: {reason}");
                tracing::error!(%reason, "engine given up");
                self.shared.update(|s| {
                    s.health = EngineHealth::Failed(reason.clone());
                    s.last_error = Some(reason);
                    s.base_url = None;
                    s.pid = None;
                });
                return;
            }
            let delay = backoff.delay(failures);
            tracing::warn!(%reason, failures, delay_ms = delay.as_millis() as u64, "engine died, restarting");
            self.shared.update(|s| {
                s.health = EngineHealth::Starting;
                s.last_error = Some(reason);
                s.base_url = None;
                s.pid = None;
            });
            if *self.stop.borrow() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = self.stop.changed() => {
                    self.shared.update(|s| s.health = EngineHealth::Stopped);
                    return;
                }
            }
            self.shared.update(|s| s.restarts += 1);
        }
    }

    async fn run_once(&mut self) -> Outcome {
        if *self.stop.borrow() {
            return Outcome::Stopped;
        }
        let mut command = Command::new(&self.command.program);
        command
            .args(&self.command.args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                return Outcome::StartFailed(format!(
                    "cannot start engine command {}: {e}",
                    self.command.program
                ))
            }
        };
        let pid = child.id();
        self.shared.update(|s| {
            s.pid = pid;
            s.health = EngineHealth::Starting;
        });
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(capture(out, Arc::clone(&self.shared)));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(capture(err, Arc::clone(&self.shared)));
        }

        // Start-up: probe until ready, the process exits, a stop arrives or the deadline passes.
        let readiness = self.options.kind.readiness();
        let deadline = Instant::now() + self.options.startup_timeout;
        let mut last_probe = String::from("no probe answered yet");
        loop {
            let probe = async {
                let r = readiness.probe(&self.client, &self.base_url).await;
                if r.is_err() {
                    tokio::time::sleep(self.options.poll_interval).await;
                }
                r
            };
            tokio::select! {
                status = child.wait() => {
                    finish_output(readers, pid).await;
                    return Outcome::StartFailed(exit_reason(status, &self.shared.log));
                }
                _ = self.stop.changed() => {
                    terminate(&mut child, pid, self.options.grace_period).await;
                    finish_output(readers, pid).await;
                    return Outcome::Stopped;
                }
                () = tokio::time::sleep_until(deadline) => {
                    terminate(&mut child, pid, self.options.grace_period).await;
                    finish_output(readers, pid).await;
                    return Outcome::StartFailed(format!(
                        "engine not ready after {} s ({last_probe})",
                        self.options.startup_timeout.as_secs_f64()
                    ));
                }
                result = probe => match result {
                    Ok(()) => break,
                    Err(e) => last_probe = e,
                }
            }
        }

        tracing::info!(base_url = %self.base_url, pid, "engine ready");
        self.shared.update(|s| {
            s.health = EngineHealth::Ready;
            s.base_url = Some(self.base_url.clone());
        });
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(()));
        }
        let ready_at = Instant::now();

        // Running: watch the process, the stop signal and the periodic health probe.
        let mut failed_probes = 0u32;
        loop {
            let check = async {
                tokio::time::sleep(self.options.health_interval).await;
                readiness.probe(&self.client, &self.base_url).await
            };
            tokio::select! {
                status = child.wait() => {
                    finish_output(readers, pid).await;
                    return Outcome::Died {
                        reason: exit_reason(status, &self.shared.log),
                        ready_for: ready_at.elapsed(),
                    };
                }
                _ = self.stop.changed() => {
                    terminate(&mut child, pid, self.options.grace_period).await;
                    finish_output(readers, pid).await;
                    return Outcome::Stopped;
                }
                result = check => match result {
                    Ok(()) => failed_probes = 0,
                    Err(e) => {
                        failed_probes += 1;
                        tracing::warn!(error = %e, failed_probes, "engine health probe failed");
                        if failed_probes >= self.options.unhealthy_after {
                            terminate(&mut child, pid, self.options.grace_period).await;
                            finish_output(readers, pid).await;
                            return Outcome::Died {
                                reason: format!("engine stopped answering its health probe: {e}"),
                                ready_for: ready_at.elapsed(),
                            };
                        }
                    }
                }
            }
        }
    }
}

/// Copies one output stream line by line into the log (invalid UTF-8 replaced).
fn capture(stream: impl AsyncRead + Unpin + Send + 'static, shared: Arc<Shared>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']);
                    tracing::debug!(target: "gonka_mlnode::engine_output", "{line}");
                    shared.log.push(line);
                }
            }
        }
    })
}

/// Waits briefly for the readers to deliver the last lines, then kills whatever is left of the
/// process group (workers the engine forked) so no process outlives the engine.
async fn finish_output(readers: Vec<JoinHandle<()>>, pid: Option<u32>) {
    signal_group(pid, Signal::SIGKILL);
    for reader in readers {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_OUTPUT, reader).await.is_err() {
            abort.abort();
        }
    }
}

/// SIGTERM to the group, SIGKILL after `grace`, then reap.
async fn terminate(child: &mut Child, pid: Option<u32>, grace: Duration) {
    signal_group(pid, Signal::SIGTERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        tracing::warn!(
            pid,
            grace_s = grace.as_secs_f64(),
            "engine ignored SIGTERM, sending SIGKILL"
        );
        signal_group(pid, Signal::SIGKILL);
        let _ = child.kill().await;
    }
    let _ = child.wait().await;
}

fn signal_group(pid: Option<u32>, signal: Signal) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // ESRCH (group already gone) is the normal case after a clean exit.
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

fn exit_reason(status: std::io::Result<ExitStatus>, log: &EngineLog) -> String {
    let status = match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("unknown status ({e})"),
    };
    match log.failure_line() {
        Some(line) => format!("engine exited ({status}): {line}"),
        None => format!("engine exited ({status}) without output"),
    }
}
