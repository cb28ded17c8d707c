//! The broker: drives every ML node toward its intended status through the management API and
//! records the current status and failure reason in the registry. One task per node, so a slow
//! or hung node never delays another; every call has a timeout. A blocking `inference/up` (a
//! large model loads for many minutes) is awaited together with the node's kick: a change of
//! the node's intended status while it loads is acted on at once, not after the load.

use std::sync::Arc;
use std::time::Duration;

use gonka_core::{NodeRecord, NodeRegistry, NodeStatus, StatusUpdate};
use tokio::sync::Notify;

use crate::metrics::{BrokerLabels, Metrics};
use gonka_core::mlnode_api::UpRequest;

use crate::mlnode_client::{MlNodeClient, MlNodeError};
use crate::pool::NodePool;

/// How often a node that has not converged is looked at again.
const CONVERGE_INTERVAL: Duration = Duration::from_millis(500);

/// What the broker needs; shared by every node's task.
#[derive(Debug, Clone)]
pub struct Broker {
    /// Where status is recorded.
    pub registry: Arc<dyn NodeRegistry>,
    /// Source of the node records.
    pub pool: Arc<NodePool>,
    /// Management API client (pointed at each node in turn).
    pub client: MlNodeClient,
    /// Metrics of the actions taken.
    pub metrics: Arc<Metrics>,
    /// Interval between reconciles of a converged node.
    pub interval: Duration,
    /// Timeout of one management call.
    pub timeout: Duration,
    /// Timeout of `inference/up`, which the ML node answers only once the engine serves (or
    /// has failed): it must cover a large model's load.
    pub up_timeout: Duration,
}

impl Broker {
    /// Reconciles node `id` now and then every interval (sooner while it converges, at once when
    /// `kick` is notified), until the node leaves the pool or the task is aborted.
    pub async fn run_node(self, id: String, generation: u64, kick: Arc<Notify>) {
        let mut attempts: u32 = 0;
        loop {
            let Some((record, g)) = self.pool.record(&id) else {
                return;
            };
            if g != generation {
                return;
            }
            let converged = self.reconcile_kicked(&record, &kick).await;
            // Converging: look again soon, backing off (0.5 s, 1 s, 2 s, ... up to the interval)
            // so nodes that stay down do not cost a call every half second.
            attempts = if converged {
                0
            } else {
                attempts.saturating_add(1)
            };
            let delay = if converged {
                self.interval
            } else {
                let backoff = CONVERGE_INTERVAL.saturating_mul(1 << (attempts - 1).min(6));
                self.interval.min(backoff)
            };
            tokio::select! {
                () = kick.notified() => attempts = 0,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One reconcile step for a node. Returns whether it is where it should be.
    pub async fn reconcile(&self, record: &NodeRecord) -> bool {
        self.reconcile_kicked(record, &Notify::new()).await
    }

    /// [`Broker::reconcile`], where a notification of `kick` while `inference/up` is in flight
    /// re-reads the node's record: the up goes on being awaited while the node is still meant to
    /// serve that model; otherwise it is dropped (the ML node goes on loading until told
    /// otherwise, as upstream's does when its client goes away), nothing is recorded as failed,
    /// and `kick` is re-armed so the caller reconciles again at once.
    async fn reconcile_kicked(&self, record: &NodeRecord, kick: &Notify) -> bool {
        let node = &record.node;
        let client = self.client.at(&node.poc_url()).with_timeout(self.timeout);
        let observed = match client.state().await {
            Ok(s) => s,
            Err(reason) => {
                self.record(record, NodeStatus::Failed, &reason.to_string())
                    .await;
                return false;
            }
        };
        match record.state.intended_status {
            NodeStatus::Inference => {
                let right_model = observed.model().is_none_or(|m| node.serves(m));
                let observed_status = observed.node_status();
                if observed.serving() && right_model {
                    self.record(record, NodeStatus::Inference, "").await;
                    return true;
                }
                if observed_status == NodeStatus::Inference && right_model {
                    // Loading (or restarting) the right model: wait, do not ask again.
                    if let Some(error) = observed.error() {
                        self.record(record, record.state.current_status, error)
                            .await;
                    }
                    return false;
                }
                if observed_status == NodeStatus::Inference {
                    // Serving a model the registry no longer lists: stop it first.
                    let r = client.inference_down().await;
                    self.count(&node.id, "inference_down", r.is_ok());
                    if let Err(reason) = r {
                        self.record(record, NodeStatus::Failed, &reason.to_string())
                            .await;
                        return false;
                    }
                }
                let Some((model, args)) = node.models.iter().next() else {
                    return false;
                };
                // The node answers once the engine serves (a large model takes many minutes).
                let up_client = client.with_timeout(self.up_timeout);
                let request = UpRequest::new(model.as_str(), args.args.clone());
                let up = up_client.inference_up(&request);
                let Some(r) = self.await_up(&node.id, model, up, kick).await else {
                    tracing::info!(node = %node.id, model, "inference/up abandoned: the node's intended status changed");
                    kick.notify_one();
                    return false;
                };
                // 409 (busy with another start or PoC) counts as done, as it always has.
                self.count(
                    &node.id,
                    "inference_up",
                    r.is_ok() || r.as_ref().is_err_and(MlNodeError::is_conflict),
                );
                match r {
                    Ok(_) => {
                        tracing::info!(node = %node.id, model, "inference/up accepted");
                        self.record(record, observed_status, "").await;
                    }
                    Err(busy) if busy.is_conflict() => {
                        tracing::debug!(node = %node.id, detail = %busy, "inference/up: node busy");
                        self.record(record, observed_status, "").await;
                    }
                    Err(reason) => {
                        tracing::warn!(node = %node.id, %reason, "inference/up failed");
                        let reason = format!("inference/up {model}: {reason}");
                        self.record(record, NodeStatus::Failed, &reason).await;
                    }
                }
                false
            }
            NodeStatus::Stopped => {
                if observed.node_status() == NodeStatus::Stopped {
                    self.record(record, NodeStatus::Stopped, "").await;
                    return true;
                }
                let r = client.stop().await;
                self.count(&node.id, "stop", r.is_ok());
                match r {
                    Ok(_) => self.record(record, observed.node_status(), "").await,
                    Err(reason) => {
                        self.record(record, NodeStatus::Failed, &reason.to_string())
                            .await
                    }
                }
                false
            }
            // PoC and other states are driven by the PoC machinery; record what is observed.
            _ => {
                self.record(record, observed.node_status(), "").await;
                true
            }
        }
    }

    /// Awaits `up` while node `id` is still meant to serve `model`, re-checking its record on
    /// every notification of `kick`. `None` when it no longer is (intended status changed, model
    /// dropped, node gone).
    async fn await_up<F, T>(&self, id: &str, model: &str, up: F, kick: &Notify) -> Option<T>
    where
        F: std::future::Future<Output = T>,
    {
        tokio::pin!(up);
        loop {
            tokio::select! {
                r = &mut up => return Some(r),
                () = kick.notified() => {
                    let wanted = self.pool.record(id).is_some_and(|(r, _)| {
                        r.state.intended_status == NodeStatus::Inference && r.node.serves(model)
                    });
                    if !wanted {
                        return None;
                    }
                }
            }
        }
    }

    fn count(&self, node: &str, action: &str, ok: bool) {
        self.metrics
            .broker_actions
            .get_or_create(&BrokerLabels {
                node: node.to_owned(),
                action: action.to_owned(),
                result: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }

    async fn record(&self, record: &NodeRecord, current: NodeStatus, reason: &str) {
        let state = &record.state;
        if state.current_status == current && state.failure_reason == reason {
            return;
        }
        let update = StatusUpdate {
            current_status: Some(current),
            failure_reason: Some(reason.to_owned()),
            ..StatusUpdate::default()
        };
        match self.registry.update_status(&record.node.id, update).await {
            // The pool learns the new state from the registry's change feed.
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(node = %record.node.id, error = %e, "cannot record node status")
            }
        }
    }
}
