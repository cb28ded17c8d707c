//! [`TaskManager::route`]: the inference proxy's choice of a task instance for a request's
//! `model`, waking a sleeping instance and waiting for it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::mlnode_api::TaskState;

use super::{Instance, TaskManager};
use crate::agent::{InFlight, Upstream};

/// Why a request for a task model cannot be served now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// The model asked for.
    pub model: String,
    /// Why (failed, or not ready within the wait).
    pub reason: String,
}

impl TaskManager {
    /// The upstream for a request whose body names `model`: `None` when no instance serves
    /// that model (the single-model engines take it); else the running instance of the model
    /// with the fewest requests in flight, waking a sleeping one and waiting (at most `wait`)
    /// when none runs.
    ///
    /// # Errors
    /// [`Unavailable`] when every instance of the model failed or none is ready within `wait`.
    pub async fn route(
        &self,
        model: &str,
        wait: Duration,
    ) -> Option<Result<Upstream, Unavailable>> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.changes.subscribe();
        let unavailable = |reason: &str| Unavailable {
            model: model.to_owned(),
            reason: reason.to_owned(),
        };
        // Bounded by the deadline: each round waits for a change or 200 ms.
        for round in 0..1_000_000u64 {
            let candidates: Vec<Arc<Instance>> = self
                .lock()
                .values()
                .filter(|i| i.launch.model == model)
                .cloned()
                .collect();
            if candidates.is_empty() {
                return (round > 0).then(|| Err(unavailable("its instances were stopped")));
            }
            let best = candidates
                .iter()
                .filter(|i| i.state() == TaskState::Running)
                .filter_map(|i| i.backend.base_url().map(|url| (i, url)))
                .min_by_key(|(i, _)| i.in_flight.load(Ordering::SeqCst));
            if let Some((instance, base_url)) = best {
                let guard = InFlight::counting(
                    Arc::clone(&instance.in_flight),
                    Some(Arc::clone(&instance.last_request_ms)),
                );
                // Counted first, then checked: a stop that removed it before the count is seen
                // here (pick again); one after it waits for this request (`TaskManager::remove`).
                let still_here = self
                    .lock()
                    .get(&instance.task_id)
                    .is_some_and(|i| Arc::ptr_eq(i, instance));
                if still_here {
                    return Some(Ok(Upstream {
                        base_url,
                        engine: instance.kind,
                        guard,
                    }));
                }
                continue;
            }
            // As reported: a running instance whose engine gave up is failed.
            let mut states = Vec::with_capacity(candidates.len());
            for i in &candidates {
                states.push(i.report().await.state);
            }
            if states
                .iter()
                .all(|s| matches!(s, TaskState::Failed | TaskState::Stopping))
            {
                return Some(Err(unavailable("its instances failed")));
            }
            if !states.contains(&TaskState::Waking) {
                if let Some(sleeping) = candidates.iter().find(|i| i.state() == TaskState::Sleeping)
                {
                    tracing::info!(task_id = %sleeping.task_id, model, "waking a task instance for a request");
                    let _ = self.wake_instance(sleeping).await;
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Some(Err(unavailable("no instance became ready in time")));
            }
            let pause = (deadline - now).min(Duration::from_millis(200));
            let _ = tokio::time::timeout(pause, changes.changed()).await;
        }
        None
    }
}
