//! Child process plumbing: output capture, process-group signals, termination, exit reasons.

use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;
use tokio::task::JoinHandle;

use super::process::Shared;
use super::EngineLog;

/// Time given to the output readers to deliver the last lines after the process exits.
const DRAIN_OUTPUT: Duration = Duration::from_secs(1);

/// Copies one output stream line by line into the log (invalid UTF-8 replaced).
pub(super) fn capture(
    stream: impl AsyncRead + Unpin + Send + 'static,
    shared: Arc<Shared>,
) -> JoinHandle<()> {
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
pub(super) async fn finish_output(readers: Vec<JoinHandle<()>>, pid: Option<u32>) {
    signal_group(pid, Signal::SIGKILL);
    for reader in readers {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_OUTPUT, reader).await.is_err() {
            abort.abort();
        }
    }
}

/// SIGTERM to the group, SIGKILL after `grace`, then reap.
pub(super) async fn terminate(child: &mut Child, pid: Option<u32>, grace: Duration) {
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

pub(super) fn exit_reason(status: std::io::Result<ExitStatus>, log: &EngineLog) -> String {
    let status = match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("unknown status ({e})"),
    };
    match log.failure_line() {
        Some(line) => format!("engine exited ({status}): {line}"),
        None => format!("engine exited ({status}) without output"),
    }
}
