//! Opt-in routing aids of the proxy: auto-pull (a request for a model no node has starts a
//! download onto the node with the most free memory) and VRAM fallback (a request for a model
//! no node has loaded goes to a loaded model of its family).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gonka_core::mlnode_api::{HfModel, HfModelStatus};

use super::family::same_family;
use super::Fleet;
use crate::error::GatewayError;

/// How often a running auto-pull asks the agent how far it is.
const PULL_POLL: Duration = Duration::from_secs(1);

/// Longest an auto-pull is followed; after that the model is no longer reported as pulling.
const PULL_FOLLOW_LIMIT: Duration = Duration::from_secs(6 * 3600);

/// Models being auto-pulled now → the node each goes to.
#[derive(Debug, Default)]
pub(super) struct Pulls(Mutex<HashMap<String, String>>);

impl Pulls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An auto-pull that runs: the model and the node it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullStarted {
    /// The model.
    pub model: String,
    /// The node it is pulled onto.
    pub node: String,
}

impl Fleet {
    /// With `vram_fallback` on: when no routable node has `model` loaded, a different model of
    /// its family ([`super::family::family_of`]) that a routable node has loaded.
    pub fn vram_fallback(&self, model: &str) -> Option<String> {
        if !self.settings.vram_fallback {
            return None;
        }
        if self.pool.find_loaded(|m| m == model).is_some() {
            return None;
        }
        self.pool.find_loaded(|m| same_family(model, m))
    }

    /// With `auto_pull` on, for a `model` no node declares: the error to answer (503 with
    /// `Retry-After`) while it is pulled onto the healthy, admitted node with the most free
    /// memory (its engine memory, else its GPU memory); the pull is started here when none
    /// runs. `None` (answer as usual) when auto-pull is off, the model is not in the governance
    /// list, or no node could take it. Once the download completes, the model is added to the
    /// node's registered models, so requests route to the node when its engine serves it.
    pub fn auto_pull(self: &Arc<Self>, model: &str) -> Option<GatewayError> {
        if !self.settings.auto_pull || !self.governance.contains(model) {
            return None;
        }
        let retry_after_s =
            u32::try_from(self.settings.pull_retry_after.as_secs().max(1)).unwrap_or(u32::MAX);
        let pulling = |node: String| GatewayError::ModelPulling {
            model: model.to_owned(),
            node,
            retry_after_s,
        };
        let mut pulls = self.pulls.lock();
        if let Some(node) = pulls.get(model) {
            return Some(pulling(node.clone()));
        }
        let node = self.most_free_memory()?;
        pulls.insert(model.to_owned(), node.clone());
        drop(pulls);
        tracing::info!(model, %node, "auto-pull: no node has the model; pulling it");
        tokio::spawn(self.clone().follow_pull(PullStarted {
            model: model.to_owned(),
            node: node.clone(),
        }));
        Some(pulling(node))
    }

    /// Auto-pulls running now.
    pub fn pulls(&self) -> Vec<PullStarted> {
        self.pulls
            .lock()
            .iter()
            .map(|(model, node)| PullStarted {
                model: model.clone(),
                node: node.clone(),
            })
            .collect()
    }

    /// The healthy, admitted node with the most free memory.
    fn most_free_memory(&self) -> Option<String> {
        self.pool
            .fleet()
            .into_iter()
            .filter(|n| n.snapshot.view.healthy && n.snapshot.view.admitted)
            .max_by(|a, b| {
                let free = |n: &crate::pool::FleetNode| {
                    let v = &n.snapshot.view;
                    v.memory_free_mb.or(v.vram_mb).unwrap_or(0)
                };
                free(a)
                    .cmp(&free(b))
                    .then(b.snapshot.view.in_flight.cmp(&a.snapshot.view.in_flight))
                    .then(b.record.node.id.cmp(&a.record.node.id))
            })
            .map(|n| n.record.node.id)
    }

    /// Starts the download, follows it to its end, and on success adds the model to the node's
    /// registered models; forgets the pull in any case.
    async fn follow_pull(self: Arc<Self>, pull: PullStarted) {
        let model = HfModel::new(pull.model.clone(), None);
        let done = match self.start_pull(&pull.node, &model).await {
            Ok(started) if started.status == HfModelStatus::Downloaded => true,
            Ok(_) => self.wait_downloaded(&pull.node, &model).await,
            Err(e) => {
                tracing::warn!(model = %pull.model, node = %pull.node, error = %e.message, "auto-pull failed to start");
                false
            }
        };
        if done {
            self.declare(&pull).await;
        }
        self.pulls.lock().remove(&pull.model);
    }

    async fn wait_downloaded(&self, node: &str, model: &HfModel) -> bool {
        let rounds = PULL_FOLLOW_LIMIT.as_secs() / PULL_POLL.as_secs().max(1);
        for _ in 0..rounds {
            tokio::time::sleep(PULL_POLL).await;
            let Ok(agent) = self.agent(node) else {
                return false;
            };
            match agent.models_status(model).await {
                Ok(s) if s.status == HfModelStatus::Downloaded => return true,
                Ok(s) if s.status == HfModelStatus::Downloading => {}
                Ok(s) => {
                    tracing::warn!(model = %model.hf_repo, node, status = ?s.status, error = ?s.error_message, "auto-pull did not complete");
                    return false;
                }
                Err(e) => {
                    tracing::debug!(model = %model.hf_repo, node, error = %e, "auto-pull status unknown")
                }
            }
        }
        false
    }

    /// Adds the pulled model to the node's registered models (kept when already there).
    async fn declare(&self, pull: &PullStarted) {
        let record = match self.registry.get(&pull.node).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(node = %pull.node, error = %e, "auto-pull: node record unavailable");
                return;
            }
        };
        let mut config = record.node;
        if config.serves(&pull.model) {
            return;
        }
        config.models.insert(pull.model.clone(), Default::default());
        match self.registry.upsert(config).await {
            Ok(_) => {
                tracing::info!(model = %pull.model, node = %pull.node, "auto-pull done: model added to the node");
            }
            Err(e) => {
                tracing::warn!(model = %pull.model, node = %pull.node, error = %e, "auto-pull: cannot add the model to the node");
            }
        }
    }
}
