//! Health checks: per node, `GET {mgmt}/health` and `GET {mgmt}/api/v1/state` on an interval with
//! a per-call timeout. A pass makes the node routable again (and closes its breaker); a failure
//! takes it out of routing at once.

use std::sync::Arc;
use std::time::Duration;

use gonka_core::mlnode_api::StateReport;

use crate::mlnode_client::MlNodeClient;
use crate::pool::{NodePool, Observation};

/// Checks one node now and stores the result in the pool. Returns whether the check passed.
pub async fn check_once(
    pool: &Arc<NodePool>,
    client: &MlNodeClient,
    id: &str,
    generation: u64,
    timeout: Duration,
) -> bool {
    let Some((record, current)) = pool.record(id) else {
        return false;
    };
    if current != generation {
        return false;
    }
    let node = client.at(&record.node.poc_url()).with_timeout(timeout);
    // One after the other: a node that fails `/health` is not asked for its state.
    let state = match node.health().await {
        Ok(()) => node.state().await,
        Err(e) => Err(e),
    };
    let observation = match state {
        Ok(state) if state.inference_healthy != Some(false) => {
            let probe = if pool.knows_hardware(id) {
                None
            } else {
                node.gpu_devices().await.ok()
            };
            Observation {
                gpu_type: probe.as_ref().and_then(|g| g.gpu_type().map(str::to_owned)),
                vram_mb: probe.as_ref().and_then(|g| g.min_total_memory_mb()),
                gpu_vendor: probe
                    .as_ref()
                    .and_then(|g| g.devices.iter().find_map(|d| d.vendor.clone())),
                gpu_count: probe
                    .as_ref()
                    .map(|g| g.devices.iter().filter(|d| d.is_available).count())
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|&n| n > 0),
                hardware_probed: probe.is_some(),
                ..observation_of(&state)
            }
        }
        Ok(_) => {
            tracing::debug!(
                node = id,
                reason = "engine not ready",
                "health check failed"
            );
            Observation::default()
        }
        Err(error) => {
            tracing::debug!(node = id, %error, "health check failed");
            Observation::default()
        }
    };
    let passed = observation.passed;
    pool.observe(id, generation, observation);
    passed
}

/// What a node's state report says, as the pool takes it: from a health check's
/// `GET /api/v1/state` and from an agent's heartbeat alike. Passed unless the report says the
/// engine does not answer ready (`inference_healthy: false`); hardware facts are not in a state
/// report (`hardware_probed: false` keeps what the pool knew).
pub fn observation_of(state: &StateReport) -> Observation {
    if state.inference_healthy == Some(false) {
        return Observation::default();
    }
    // Status, loaded model, engine, queue depth, and what model-aware routing reads: resident
    // and disk models, memory and pressure.
    Observation::from_state(state)
}

/// Health checks in progress at once across the fleet, at most. Registering a batch of thousands
/// of nodes starts all their first checks together; without a bound that is thousands of
/// simultaneous connections (and their buffers: tens of MB of the gateway's memory). A check
/// takes a few ms on a LAN, so 128 at a time still checks 1,000 healthy nodes in well under the
/// default interval; unreachable nodes hold a slot for at most the connect timeout.
pub const MAX_CONCURRENT_CHECKS: usize = 128;

/// When a node's health is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTiming {
    /// Between checks of a routable node.
    pub interval: Duration,
    /// Between checks of a node out of routing (last check failed, breaker open), and between
    /// looks whether a routable node's breaker opened; used when shorter than `interval`.
    pub recovery: Duration,
    /// Of one check call.
    pub timeout: Duration,
}

/// Checks the node every `timing.interval`, or every `timing.recovery` while it is out of
/// routing (so a node that is back is routed to within about that long), until the task is
/// aborted or the node leaves the pool; each check holds one permit of `limit` while it runs.
pub async fn run_checks(
    pool: Arc<NodePool>,
    client: MlNodeClient,
    id: String,
    generation: u64,
    timing: CheckTiming,
    limit: Arc<tokio::sync::Semaphore>,
) {
    let CheckTiming {
        interval,
        recovery,
        timeout,
    } = timing;
    let recovery = recovery.min(interval).max(Duration::from_millis(1));
    let mut last: Option<bool> = None;
    for round in 0u64.. {
        if pool.record(&id).is_none_or(|(_, g)| g != generation) {
            return;
        }
        let passed = {
            // The semaphore is never closed; if it were, checking unbounded beats not checking.
            let _slot = limit.acquire().await.ok();
            check_once(&pool, &client, &id, generation, timeout).await
        };
        match (last, passed) {
            (Some(true), true) | (Some(false), false) => {}
            (_, true) => tracing::info!(node = %id, "health check passing"),
            (None, false) => tracing::info!(node = %id, "node not ready yet"),
            (Some(true), false) => tracing::warn!(node = %id, "health check failing"),
        }
        last = Some(passed);
        // The next check at `interval`, or as soon as a look every `recovery` finds the node out
        // of routing (its last check failed, or requests opened its breaker meanwhile).
        let next = tokio::time::Instant::now() + jittered(interval, &id, round);
        loop {
            let now = tokio::time::Instant::now();
            if now >= next {
                break;
            }
            tokio::time::sleep((next - now).min(recovery)).await;
            if pool.awaits_recovery(&id, generation) {
                break;
            }
        }
    }
}

/// `interval` stretched or shrunk by up to 10 %, differently per node and per round, so the
/// checks of nodes registered together (one batch of thousands) spread out over time instead of
/// reaching the network, and the pool lock, in the same instant every round. Deterministic (a
/// hash of the id and the round), so no random source is needed.
fn jittered(interval: Duration, id: &str, round: u64) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (id, round).hash(&mut hasher);
    // In [-1, 1] in steps of 1/1000.
    let unit = (hasher.finish() % 2001) as f64 / 1000.0 - 1.0;
    interval.mul_f64(1.0 + 0.1 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent_and_spreads_nodes() {
        let interval = Duration::from_secs(5);
        let mut distinct = std::collections::BTreeSet::new();
        for n in 0..200 {
            let d = jittered(interval, &format!("node-{n}"), 0);
            assert!(
                d >= Duration::from_millis(4500) && d <= Duration::from_millis(5500),
                "{d:?}"
            );
            distinct.insert(d);
        }
        assert!(
            distinct.len() > 150,
            "200 nodes got only {} distinct delays",
            distinct.len()
        );
        assert_ne!(jittered(interval, "a", 1), jittered(interval, "a", 2));
    }

    #[tokio::test]
    async fn a_check_runs_only_with_a_slot_of_the_fleet_wide_limit() {
        use gonka_core::{ManualEpoch, NodeConfig, NodeRecord, NodeState};
        use std::sync::atomic::{AtomicUsize, Ordering};

        // A management port that counts connections (and closes them: the check fails).
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let server = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        let pool = Arc::new(NodePool::new(
            Arc::new(crate::schedule::LeastBusy),
            Arc::new(ManualEpoch::new(0)),
            8,
            3,
        ));
        let record = NodeRecord {
            node: NodeConfig::new("n", "m").at("127.0.0.1", 1, port),
            state: NodeState::new_registered(0),
        };
        let generation = pool.apply(record).generation;
        let limit = Arc::new(tokio::sync::Semaphore::new(0));
        let checks = tokio::spawn(run_checks(
            pool.clone(),
            MlNodeClient::default(),
            "n".into(),
            generation,
            CheckTiming {
                interval: Duration::from_millis(20),
                recovery: Duration::from_millis(20),
                timeout: Duration::from_millis(500),
            },
            limit.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "no slot: no check");
        limit.add_permits(1);
        for _ in 0..500 {
            if accepted.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            accepted.load(Ordering::SeqCst) > 0,
            "a slot: the node is checked"
        );
        checks.abort();
        server.abort();
    }
}
