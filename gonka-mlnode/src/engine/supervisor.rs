//! The supervision loop of one engine process: spawn, wait ready, watch, restart with backoff,
//! give up; see [`super::ProcessBackend`] for the contract.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::EngineHealth;
use tokio::process::Command;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::child::{capture, exit_reason, finish_output, terminate};
use super::pidfile::PidFile;
use super::process::Shared;
use super::{EngineCommand, ProcessOptions};

/// How one run of the process ended.
enum Outcome {
    /// Stopped on request; nothing left running.
    Stopped,
    /// Never became ready.
    StartFailed(String),
    /// Was ready, then died or hung.
    Died { reason: String, ready_for: Duration },
}

pub(super) struct Supervisor {
    pub(super) options: Arc<ProcessOptions>,
    pub(super) client: reqwest::Client,
    pub(super) shared: Arc<Shared>,
    pub(super) command: EngineCommand,
    pub(super) base_url: String,
    /// The engine's loopback port (also in `base_url`).
    pub(super) port: u16,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) first: Option<oneshot::Sender<std::result::Result<(), String>>>,
}

impl Supervisor {
    pub(super) async fn run(mut self) {
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
            .envs(
                self.options
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match super::spawner::spawn(command, true).await {
            Ok(child) => child,
            Err(e) => {
                return Outcome::StartFailed(format!(
                    "cannot start engine command {}: {e}",
                    self.command.program
                ))
            }
        };
        let pid = child.id();
        // Removed when this run ends (the child is reaped, or killed on drop).
        let _pid_file = self.write_pid_file(pid);
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
                    let mut reason = exit_reason(status, &self.shared.log);
                    if let Some(note) = port_taken(self.port).await {
                        reason.push_str("; ");
                        reason.push_str(&note);
                    }
                    return Outcome::StartFailed(reason);
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
                    Err(e) => last_probe = e.to_string(),
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

impl Supervisor {
    /// Records the engine in [`ProcessOptions::pid_file`]; a failure is logged, not fatal (the
    /// parent-death signal still ties the engine to the agent).
    fn write_pid_file(&self, pid: Option<u32>) -> Option<PidFile> {
        let (path, pid) = (self.options.pid_file.as_ref()?, pid?);
        match PidFile::write(path, pid, self.port, &self.command.to_string()) {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot write the engine pid file: an agent started after this one is killed will not find this engine");
                None
            }
        }
    }
}

/// After an engine died during start-up: whether its port is held by another process (engines
/// often say only "HTTP server error" or "address already in use" without the port). A note
/// naming the port, or `None` when the port is free.
async fn port_taken(port: u16) -> Option<String> {
    if port == 0 {
        return None;
    }
    match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Some(format!(
            "port {port} on 127.0.0.1 is in use by another process (free it or choose another --engine-port-base)"
        )),
        _ => None,
    }
}
