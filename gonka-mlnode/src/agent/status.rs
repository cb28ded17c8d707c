//! What the agent reports: `GET /api/v1/state` and `GET /api/v1/inference/up/status`.

use std::sync::atomic::Ordering;

use gonka_core::EngineHealth;

use gonka_core::mlnode_api::{EngineLogs, ReplicaLogs};

use super::{residency, Agent, ReplicaHealth, ReplicaReport, StateReport, UpPhase, UpStatusReport};

impl Agent {
    /// `GET /api/v1/inference/up/status`.
    pub async fn up_status(&self) -> UpStatusReport {
        let (phase, started, elapsed, error, model, replicas) = {
            let i = self.lock();
            (
                i.up,
                i.up_started,
                i.up_elapsed,
                i.up_error.clone(),
                i.last_model.clone(),
                i.replicas.clone(),
            )
        };
        let mut ready = false;
        let mut given_up = None;
        let mut all_failed = !replicas.is_empty();
        for r in &replicas {
            match r.backend.health().await {
                EngineHealth::Ready => {
                    ready = true;
                    all_failed = false;
                }
                EngineHealth::Failed(reason) => given_up = given_up.or(Some(reason)),
                _ => all_failed = false,
            }
        }
        // An up that completed but whose engines all gave up since then reports as failed.
        let (phase, error) = match given_up {
            Some(reason) if all_failed && phase == UpPhase::Completed => {
                (UpPhase::Failed, Some(reason))
            }
            _ => (phase, error),
        };
        UpStatusReport {
            status: phase,
            is_starting: phase == UpPhase::InProgress,
            is_running: phase == UpPhase::Completed && ready,
            elapsed_seconds: elapsed
                .or_else(|| started.map(|t| t.elapsed()))
                .map(|d| d.as_secs_f64()),
            error,
            model,
        }
    }

    /// `GET /api/v1/state`.
    pub async fn state(&self) -> StateReport {
        let (loaded, phase, running_since, last_error, replicas, last_used) = {
            let i = self.lock();
            (
                i.loaded.clone(),
                i.up,
                i.running_since,
                i.last_error.clone(),
                i.replicas.clone(),
                i.last_used,
            )
        };
        let config = self.config.clone();
        let facts = tokio::task::spawn_blocking(move || residency::host_facts(&config))
            .await
            .unwrap_or_default();
        let mut reports = Vec::with_capacity(replicas.len());
        for (index, r) in replicas.iter().enumerate() {
            let health = r.backend.health().await;
            reports.push(ReplicaReport {
                index,
                health: match &health {
                    EngineHealth::Stopped => ReplicaHealth::Stopped,
                    EngineHealth::Starting => ReplicaHealth::Starting,
                    EngineHealth::Ready => ReplicaHealth::Ready,
                    _ => ReplicaHealth::Failed,
                },
                base_url: r.backend.base_url(),
                pid: r.backend.pid(),
                restarts: r.backend.restarts(),
                in_flight: r.in_flight.load(Ordering::SeqCst),
                last_error: match health {
                    EngineHealth::Failed(reason) => Some(reason),
                    _ => r.backend.last_error(),
                },
            });
        }
        let all_failed =
            !reports.is_empty() && reports.iter().all(|r| r.health == ReplicaHealth::Failed);
        let active = loaded.is_some() && matches!(phase, UpPhase::InProgress | UpPhase::Completed);
        // Engines that all gave up serve nothing: STOPPED, so the network node brings them up again.
        let inference = active && !all_failed;
        let phase = if active && all_failed {
            UpPhase::Failed
        } else {
            phase
        };
        let keep_alive = match self.config.engine {
            crate::engine::EngineKind::Simulator => self.config.simulator.keep_alive,
            _ => None,
        };
        let serving = inference && reports.iter().any(|r| r.health == ReplicaHealth::Ready);
        // In engine memory: the model of ready engines (the simulator's only while its
        // keep-alive has not run out since the last request).
        let loaded_models = loaded
            .as_ref()
            .filter(|_| serving && residency::still_resident(keep_alive, last_used))
            .map(|l| gonka_core::LoadedModel {
                name: l.model.as_str().into(),
                context_length: l.context_length,
            })
            .into_iter()
            .collect();
        StateReport {
            // As upstream: PoC v2 runs inside the serving engine, so a serving node stays
            // INFERENCE during PoC (`poc_status` says GENERATING); POW only for PoC on a node
            // with no engine up.
            state: if inference {
                "INFERENCE"
            } else if self.poc().is_generating() {
                "POW"
            } else {
                "STOPPED"
            }
            .to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            poc_status: self.poc_status().await,
            inference_healthy: Some(
                inference && reports.iter().any(|r| r.health == ReplicaHealth::Ready),
            ),
            loaded_model: loaded
                .as_ref()
                .filter(|_| inference)
                .map(|l| l.model.clone()),
            // The replicas' own kind (a custom factory's engine), the configured one before any up.
            engine: Some(
                replicas
                    .first()
                    .map_or(self.config.engine.as_str(), |r| r.backend.kind())
                    .to_owned(),
            ),
            dtype: loaded
                .as_ref()
                .filter(|_| inference)
                .map(|l| l.dtype.clone()),
            pid: reports.iter().find_map(|r| r.pid),
            uptime_s: running_since
                .filter(|_| inference)
                .map(|t| t.elapsed().as_secs_f64()),
            agent_uptime_s: Some(self.started.elapsed().as_secs_f64()),
            last_error: reports
                .iter()
                .find_map(|r| r.last_error.clone())
                .or(last_error),
            queue_depth: None,
            up_status: Some(phase),
            replicas: reports,
            loaded_models: Some(loaded_models),
            disk_models: facts.disk_models,
            memory: facts.memory,
            tasks: self.tasks.list().await.tasks,
        }
    }

    /// `GET /api/v1/inference/logs`: the last output lines of each engine replica.
    pub fn engine_logs(&self) -> EngineLogs {
        let replicas = self.lock().replicas.clone();
        EngineLogs {
            replicas: replicas
                .iter()
                .enumerate()
                .map(|(index, r)| ReplicaLogs {
                    index,
                    pid: r.backend.pid(),
                    lines: r.backend.log_tail(),
                })
                .collect(),
        }
    }
}
