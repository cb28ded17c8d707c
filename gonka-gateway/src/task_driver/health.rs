//! The group's health check against new tasks' instances during an update: HTTP `GET` of the
//! check's path (2xx passes) or a TCP connect, on the instance's port of its node
//! ([`probe_instance`], which the gateway's continuous checks use as well).

use std::time::Duration;

use gonka_core::deploy::spec::HealthCheck;
use gonka_core::deploy::{RollingUpdateState, Task, TaskStatus};

use super::{HealthMemory, Memory, NodeDirectory, TaskDriver, View};

/// One check of the engine instance on `port` of `node` by the group's `hc`: an HTTP `GET` of
/// its path answering 2xx, or a TCP connect, within `timeout`.
///
/// # Errors
/// Why it failed (the status answered, the connection error, the timeout, an unknown node), in
/// words.
pub(crate) async fn probe_instance(
    http: &reqwest::Client,
    nodes: &dyn NodeDirectory,
    node: &str,
    port: u16,
    hc: &HealthCheck,
    timeout: Duration,
) -> Result<(), String> {
    let Some(base) = nodes.instance_url(node, port) else {
        return Err(format!("node {node} is unknown"));
    };
    if hc.kind == "tcp" {
        let addr = base
            .split_once("://")
            .map_or(base.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
            .to_owned();
        return match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("tcp connect to {addr}: {e}")),
            Err(_) => Err(format!(
                "tcp connect to {addr}: no answer within {timeout:?}"
            )),
        };
    }
    let url = format!("{}{}", base.trim_end_matches('/'), hc.path);
    match http.get(&url).timeout(timeout).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("GET {url}: {}", r.status())),
        Err(e) if e.is_timeout() => Err(format!("GET {url}: no answer within {timeout:?}")),
        Err(e) => Err(format!("GET {url}: {e}")),
    }
}

impl TaskDriver {
    /// Checks every running task of the current generation of a group being updated, each at
    /// most once per interval; results land in `memory.health`.
    pub(crate) async fn check_health(&self, view: &View, memory: &mut Memory) {
        for task in &view.tasks {
            let Some(group) = view.groups.get(&task.group_id) else {
                continue;
            };
            if group.rolling_update_state != RollingUpdateState::Rolling
                || task.generation != group.generation
                || task.status != TaskStatus::Running
            {
                continue;
            }
            let hc = &group.spec.health_check;
            let interval = self
                .settings
                .health_interval
                .unwrap_or(Duration::from_secs(u64::from(hc.interval_seconds)));
            let interval_ms = u64::try_from(interval.as_millis()).unwrap_or(u64::MAX);
            let entry = memory.health.entry(task.id.clone()).or_default();
            if entry.last_ms != 0 && view.now.saturating_sub(entry.last_ms) < interval_ms {
                continue;
            }
            let ok = self.probe(task, hc).await;
            *entry = HealthMemory {
                last_ms: view.now.max(1),
                failures: if ok {
                    0
                } else {
                    entry.failures.saturating_add(1)
                },
                passed: entry.passed || ok,
            };
            if !ok {
                tracing::warn!(task = %task.id, failures = entry.failures, "new task failed its health check");
            }
        }
    }

    /// One check of `task`'s instance.
    async fn probe(&self, task: &Task, hc: &HealthCheck) -> bool {
        let (Some(node), Some(&port)) = (task.node_id.as_deref(), task.ports.first()) else {
            return false;
        };
        let timeout = self
            .settings
            .health_timeout
            .unwrap_or(Duration::from_secs(u64::from(hc.timeout_seconds)));
        probe_instance(&self.http, self.nodes.as_ref(), node, port, hc, timeout)
            .await
            .is_ok()
    }

    /// Whether `task` passed its last health check.
    pub(crate) fn healthy(memory: &Memory, task: &Task) -> bool {
        memory
            .health
            .get(&task.id)
            .is_some_and(|h| h.passed && h.failures == 0)
    }

    /// Whether `task` failed `threshold` checks in a row.
    pub(crate) fn unhealthy(memory: &Memory, task: &Task, threshold: u32) -> bool {
        memory
            .health
            .get(&task.id)
            .is_some_and(|h| h.failures >= threshold.max(1))
    }
}
