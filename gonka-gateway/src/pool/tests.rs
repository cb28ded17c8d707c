use std::sync::Arc;
use std::time::Duration;

use gonka_core::{ManualEpoch, NodeConfig, NodeRecord, NodeState, NodeStatus, RequestInfo};
use tokio::time::Instant;

use super::*;
use crate::schedule::{LeastBusy, RoundRobin};

const M: &str = "Qwen/Qwen3-32B-FP8";

fn record(id: &str, max: u32) -> NodeRecord {
    NodeRecord {
        node: NodeConfig::new(id, M).max_concurrent(max),
        state: NodeState::new_registered(0),
    }
}

fn healthy() -> Observation {
    Observation {
        passed: true,
        status: NodeStatus::Inference,
        loaded_model: Some(M.into()),
        ..Observation::default()
    }
}

fn pool_with(epoch: Arc<ManualEpoch>, capacity: usize) -> Arc<NodePool> {
    Arc::new(NodePool::new(Arc::new(LeastBusy), epoch, capacity, 3))
}

fn add(pool: &Arc<NodePool>, id: &str, max: u32) -> u64 {
    let g = pool.apply(record(id, max)).generation;
    pool.observe(id, g, healthy());
    g
}

fn chain() -> Vec<RequestInfo> {
    vec![RequestInfo::for_model(M)]
}

#[test]
fn a_node_is_not_routable_before_its_first_passed_health_check() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    let applied = pool.apply(record("a", 2));
    assert!(applied.is_new && applied.needs_reconcile);
    assert!(pool.try_acquire(&chain(), &[]).is_none());
    pool.observe("a", applied.generation, healthy());
    assert!(pool.try_acquire(&chain(), &[]).is_some());
}

#[test]
fn permits_never_exceed_max_concurrent_and_free_on_drop() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 2);
    let p1 = pool.try_acquire(&chain(), &[]).unwrap();
    let p2 = pool.try_acquire(&chain(), &[]).unwrap();
    assert!(pool.try_acquire(&chain(), &[]).is_none());
    assert_eq!(pool.in_flight(), 2);
    drop(p1);
    let p3 = pool.try_acquire(&chain(), &[]).unwrap();
    drop((p2, p3));
    assert_eq!(pool.in_flight(), 0);
}

#[test]
fn concurrent_acquires_from_many_threads_respect_max_concurrent() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 3);
    add(&pool, "b", 5);
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..8 {
            let pool = pool.clone();
            let held = held.clone();
            s.spawn(move || {
                for _ in 0..50 {
                    if let Some(p) = pool.try_acquire(&chain(), &[]) {
                        held.lock().unwrap().push(p);
                    }
                    for n in pool.snapshot() {
                        assert!(n.view.in_flight <= n.view.max_concurrent);
                    }
                }
            });
        }
    });
    assert_eq!(
        held.lock().unwrap().len(),
        8,
        "exactly the 3 + 5 slots were handed out"
    );
}

#[test]
fn excluded_nodes_are_skipped_and_restored() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 2);
    add(&pool, "b", 2);
    let p = pool.try_acquire(&chain(), &[Arc::from("a")]).unwrap();
    assert_eq!(&**p.node(), "b");
    drop(p);
    let p = pool.try_acquire(&chain(), &[]).unwrap();
    assert_eq!(&**p.node(), "a", "exclusion does not outlive the call");
}

#[test]
fn a_disabled_node_serves_until_its_epoch_is_over() {
    let epoch = Arc::new(ManualEpoch::new(7));
    let pool = pool_with(epoch.clone(), 8);
    let g = add(&pool, "a", 2);
    let mut r = record("a", 2);
    r.state.admin_state.enabled = false;
    r.state.admin_state.epoch = 7;
    let applied = pool.apply(r);
    assert!(applied.needs_reconcile, "admin change wakes the broker");
    assert!(pool.try_acquire(&chain(), &[]).is_some(), "still epoch 7");
    epoch.advance();
    pool.observe("a", g, healthy());
    assert!(
        pool.try_acquire(&chain(), &[]).is_none(),
        "epoch 8: not admitted"
    );
}

#[test]
fn status_only_updates_do_not_ask_for_a_reconcile() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 2);
    let mut r = record("a", 2);
    r.state.current_status = NodeStatus::Inference;
    r.state.failure_reason = "x".into();
    assert!(!pool.apply(r).needs_reconcile);
}

#[test]
fn failures_open_the_breaker_and_a_health_pass_closes_it() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    let g = add(&pool, "a", 4);
    for _ in 0..3 {
        let mut p = pool.try_acquire(&chain(), &[]).unwrap();
        p.finish(Outcome::Failure(FailureKind::Server));
    }
    assert!(pool.try_acquire(&chain(), &[]).is_none(), "breaker open");
    assert!(pool.snapshot()[0].breaker_open);
    pool.observe("a", g, healthy());
    assert!(
        pool.try_acquire(&chain(), &[]).is_some(),
        "closed by a health pass"
    );
}

#[test]
fn a_failed_health_check_takes_the_node_out_at_once() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    let g = add(&pool, "a", 4);
    pool.observe("a", g, Observation::default());
    assert!(pool.try_acquire(&chain(), &[]).is_none());
    assert!(pool.servable_models().is_empty());
}

#[test]
fn a_removed_node_is_not_picked_and_its_old_permits_are_harmless() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    add(&pool, "b", 1);
    let old = pool.try_acquire(&chain(), &[]).unwrap();
    assert_eq!(&**old.node(), "a");
    assert!(pool.remove("a"));
    // Registered again: a new generation with its own count.
    add(&pool, "a", 1);
    drop(old);
    let p1 = pool.try_acquire(&chain(), &[]).unwrap();
    let p2 = pool.try_acquire(&chain(), &[]).unwrap();
    assert!(
        pool.try_acquire(&chain(), &[]).is_none(),
        "old permit freed nothing"
    );
    drop((p1, p2));
    assert_eq!(pool.ids().len(), 2);
}

#[test]
fn the_loaded_model_decides_what_a_multi_model_node_serves() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    let mut r = record("a", 2);
    r.node = r.node.model("Qwen/QwQ-32B", vec![]);
    let g = pool.apply(r).generation;
    pool.observe("a", g, healthy());
    assert_eq!(pool.servable_models(), vec![M.to_owned()]);
    assert!(pool
        .try_acquire(&[RequestInfo::for_model("Qwen/QwQ-32B")], &[])
        .is_none());
    assert!(pool.declares("Qwen/QwQ-32B"));
    pool.apply(record("a", 2));
    assert!(
        !pool.declares("Qwen/QwQ-32B"),
        "model dropped from the config"
    );
    assert!(pool.remove("a"));
    assert!(!pool.declares(M));
}

#[tokio::test]
async fn a_queued_request_is_served_when_a_permit_is_released() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let held = pool.try_acquire(&chain(), &[]).unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.acquire(&chain(), &[], Instant::now() + Duration::from_secs(10))
                .await
                .map(|p| p.node().to_string())
        })
    };
    wait_queue_depth(&pool, 1).await;
    drop(held);
    assert_eq!(waiter.await.unwrap(), Ok("a".to_owned()));
    assert_eq!(pool.queue_depth(), 0);
}

#[tokio::test]
async fn a_queued_request_is_served_when_a_node_becomes_routable() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    let g = pool.apply(record("a", 1)).generation;
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.acquire(&chain(), &[], Instant::now() + Duration::from_secs(10))
                .await
                .is_ok()
        })
    };
    wait_queue_depth(&pool, 1).await;
    pool.observe("a", g, healthy());
    assert!(waiter.await.unwrap());
}

/// On the paused clock: the 300 ms queue timeout fires by virtual time, not by wall time.
#[tokio::test(start_paused = true)]
async fn the_queue_times_out_and_rejects_when_full() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 1);
    add(&pool, "a", 1);
    let _held = pool.try_acquire(&chain(), &[]).unwrap();
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.acquire(&chain(), &[], Instant::now() + Duration::from_millis(300))
                .await
                .err()
        })
    };
    wait_queue_depth(&pool, 1).await;
    let full = pool
        .acquire(&chain(), &[], Instant::now() + Duration::from_secs(5))
        .await
        .err();
    assert_eq!(full, Some(AcquireError::QueueFull));
    assert_eq!(waiter.await.unwrap(), Some(AcquireError::Timeout));
}

#[test]
fn round_robin_over_the_pool_alternates_nodes() {
    let pool = Arc::new(NodePool::new(
        Arc::new(RoundRobin::default()),
        Arc::new(ManualEpoch::new(0)),
        8,
        3,
    ));
    add(&pool, "a", 8);
    add(&pool, "b", 8);
    let ids: Vec<String> = (0..4)
        .map(|_| pool.try_acquire(&chain(), &[]).unwrap().node().to_string())
        .collect();
    assert_eq!(ids, vec!["a", "b", "a", "b"]);
}

#[test]
fn a_node_still_serving_a_model_no_longer_configured_is_not_routed_to() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    let g = pool.apply(record("a", 2)).generation;
    pool.observe(
        "a",
        g,
        Observation {
            loaded_model: Some("Qwen/QwQ-32B".into()),
            ..healthy()
        },
    );
    assert!(pool.try_acquire(&chain(), &[]).is_none());
    assert!(pool
        .try_acquire(&[RequestInfo::for_model("Qwen/QwQ-32B")], &[])
        .is_none());
    // A node that does not report its model serves what it is configured with.
    pool.observe(
        "a",
        g,
        Observation {
            loaded_model: None,
            ..healthy()
        },
    );
    assert!(pool.try_acquire(&chain(), &[]).is_some());
}

/// Spawns a waiter for `request` and waits (bounded) until the queue holds `depth` requests.
async fn queue_up(
    pool: &Arc<NodePool>,
    request: RequestInfo,
    depth: usize,
) -> tokio::task::JoinHandle<Result<Permit, AcquireError>> {
    let handle = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.acquire(&[request], &[], Instant::now() + Duration::from_secs(10))
                .await
        })
    };
    wait_queue_depth(pool, depth).await;
    handle
}

/// Waits (at most 1000 polls, 2 ms apart) until the queue holds `depth` requests; panics if it
/// never does.
async fn wait_queue_depth(pool: &Arc<NodePool>, depth: usize) {
    for _ in 0..1000 {
        if pool.queue_depth() == depth {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(pool.queue_depth(), depth, "the queue never reached {depth}");
}

fn with_priority(priority: i32) -> RequestInfo {
    RequestInfo {
        priority,
        ..RequestInfo::for_model(M)
    }
}

#[tokio::test]
async fn waiters_are_served_first_come_first_served_within_a_priority() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let held = pool.try_acquire(&chain(), &[]).unwrap();
    let first = queue_up(&pool, with_priority(0), 1).await;
    let second = queue_up(&pool, with_priority(0), 2).await;
    drop(held);
    let p = first.await.unwrap().unwrap();
    assert_eq!(pool.queue_depth(), 1, "the second still waits");
    assert!(!second.is_finished());
    drop(p);
    assert!(second.await.unwrap().is_ok());
    assert_eq!(pool.queue_depth(), 0);
}

#[tokio::test]
async fn a_higher_priority_waiter_is_served_before_earlier_ones() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let held = pool.try_acquire(&chain(), &[]).unwrap();
    let normal = queue_up(&pool, with_priority(0), 1).await;
    let urgent = queue_up(&pool, with_priority(5), 2).await;
    drop(held);
    let p = urgent.await.unwrap().unwrap();
    assert!(!normal.is_finished());
    drop(p);
    assert!(normal.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_newcomer_does_not_take_a_slot_a_waiter_was_given() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let held = pool.try_acquire(&chain(), &[]).unwrap();
    let waiter = queue_up(&pool, with_priority(0), 1).await;
    drop(held);
    // The freed slot went to the waiter at release, before this request could see it.
    assert!(pool.try_acquire(&chain(), &[]).is_none());
    assert!(waiter.await.unwrap().is_ok());
}

#[tokio::test]
async fn a_waiter_that_gave_up_leaves_its_slot_to_the_next() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let held = pool.try_acquire(&chain(), &[]).unwrap();
    let gone = queue_up(&pool, with_priority(0), 1).await;
    let next = queue_up(&pool, with_priority(0), 2).await;
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    assert_eq!(pool.queue_depth(), 1, "the cancelled waiter left the queue");
    drop(held);
    assert!(next.await.unwrap().is_ok());
    assert_eq!(pool.in_flight(), 0, "every slot was returned");
}

#[tokio::test]
async fn waiters_for_an_unservable_model_do_not_block_others() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let held = pool.try_acquire(&chain(), &[]).unwrap();
    let other = queue_up(&pool, RequestInfo::for_model("Qwen/QwQ-32B"), 1).await;
    let mine = queue_up(&pool, with_priority(0), 2).await;
    drop(held);
    assert!(mine.await.unwrap().is_ok());
    assert_eq!(pool.queue_depth(), 1);
    pool.close();
    assert_eq!(other.await.unwrap().err(), Some(AcquireError::Closed));
    assert_eq!(pool.queue_depth(), 0);
}

#[tokio::test]
async fn a_waiter_whose_hints_no_node_meets_does_not_block_an_unfiltered_one() {
    // Regression: waiters that found no slot were remembered by model alone, so an unfiltered
    // waiter behind a filtered one for the same model was skipped although a node could take it.
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let held = pool.try_acquire(&chain(), &[]).unwrap();
    let filtered = RequestInfo {
        gpu_type: Some("H100".into()),
        ..RequestInfo::for_model(M)
    };
    let stuck = queue_up(&pool, filtered, 1).await;
    let served = queue_up(&pool, with_priority(0), 2).await;
    drop(held);
    assert_eq!(&**served.await.unwrap().unwrap().node(), "a");
    assert_eq!(pool.queue_depth(), 1, "the filtered waiter still waits");
    pool.close();
    assert_eq!(stuck.await.unwrap().err(), Some(AcquireError::Closed));
}

#[test]
fn could_serve_follows_hints_and_exclusions() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    add(&pool, "a", 1);
    let _held = pool.try_acquire(&chain(), &[]).unwrap();
    assert!(
        pool.could_serve(&chain(), &[]),
        "full, but a slot will free"
    );
    assert!(!pool.could_serve(&chain(), &[Arc::from("a")]), "excluded");
    let filtered = [RequestInfo {
        gpu_type: Some("H100".into()),
        ..RequestInfo::for_model(M)
    }];
    assert!(!pool.could_serve(&filtered, &[]), "no node reports an H100");
}

/// The eligibility rule seen from the pool: a node's state drawn at random.
#[derive(Debug, Clone)]
struct Drawn {
    max: u32,
    held: u32,
    enabled: bool,
    disabled_in: u64,
    passed: bool,
    status: NodeStatus,
    gpu: Option<(&'static str, u64)>,
    engine: Option<&'static str>,
}

fn arb_drawn() -> impl proptest::strategy::Strategy<Value = Drawn> {
    use proptest::prelude::*;
    (
        (0u32..3, 0u32..3, any::<bool>(), 3u64..6, any::<bool>()),
        (0usize..3, 0usize..3, 0usize..3),
    )
        .prop_map(
            |((max, held, enabled, disabled_in, passed), (status, gpu, engine))| Drawn {
                max,
                held,
                enabled,
                disabled_in,
                passed,
                status: [
                    NodeStatus::Inference,
                    NodeStatus::Inference,
                    NodeStatus::Poc,
                ][status],
                gpu: [
                    None,
                    Some(("NVIDIA H100 80GB", 81_559)),
                    Some(("NVIDIA A10", 24_000)),
                ][gpu],
                engine: [None, Some("vllm"), Some("sglang")][engine],
            },
        )
}

fn arb_chain() -> impl proptest::strategy::Strategy<Value = (Vec<RequestInfo>, Vec<Arc<str>>)> {
    use proptest::prelude::*;
    (
        any::<bool>(),
        proptest::option::of(0usize..2),
        proptest::option::of(0u64..90_000),
        proptest::option::of(0usize..2),
        proptest::collection::vec(0usize..6, 0..3),
    )
        .prop_map(|(fallback, gpu, vram, engine, exclude)| {
            let request = RequestInfo {
                gpu_type: gpu.map(|g| ["h100", "a10"][g].to_owned()),
                min_vram_mb: vram,
                engine: engine.map(|e| ["VLLM", "sglang"][e].to_owned()),
                ..RequestInfo::for_model(M)
            };
            let mut chain = vec![request.clone()];
            if fallback {
                chain.push(RequestInfo {
                    model: "Qwen/QwQ-32B".into(),
                    ..request
                });
            }
            let exclude = exclude.iter().map(|i| Arc::from(format!("n{i}"))).collect();
            (chain, exclude)
        })
}

/// A pool over `nodes` at epoch 5, routed by `scheduler`; returns it with the permits held.
fn drawn_pool(scheduler: Arc<dyn Scheduler>, nodes: &[Drawn]) -> (Arc<NodePool>, Vec<Permit>) {
    let pool = Arc::new(NodePool::new(
        scheduler,
        Arc::new(ManualEpoch::new(5)),
        8,
        3,
    ));
    for (i, d) in nodes.iter().enumerate() {
        let id = format!("n{i}");
        let mut r = NodeRecord {
            node: NodeConfig::new(&id, M).max_concurrent(d.max.max(1)),
            state: NodeState::new_registered(0),
        };
        r.node
            .models
            .insert("Qwen/QwQ-32B".into(), gonka_core::ModelArgs::default());
        r.state.admin_state.enabled = d.enabled;
        r.state.admin_state.epoch = d.disabled_in;
        let g = pool.apply(r).generation;
        pool.observe(
            &id,
            g,
            Observation {
                passed: d.passed,
                status: NodeStatus::Inference,
                gpu_type: d.gpu.map(|(name, _)| name.to_owned()),
                vram_mb: d.gpu.map(|(_, mb)| mb),
                engine: d.engine.map(str::to_owned),
                hardware_probed: true,
                ..Observation::default()
            },
        );
    }
    // Take the drawn number of slots per node, through the pool itself.
    let mut held = Vec::new();
    for (i, d) in nodes.iter().enumerate() {
        let others: Vec<Arc<str>> = (0..nodes.len())
            .filter(|&j| j != i)
            .map(|j| Arc::from(format!("n{j}")))
            .collect();
        for _ in 0..d.held {
            if let Some(p) = pool.try_acquire(&[RequestInfo::for_model(M)], &others) {
                held.push(p);
            }
        }
    }
    // Then the drawn status (a PoC node keeps its slots but takes no new request).
    for (i, d) in nodes.iter().enumerate() {
        let id = format!("n{i}");
        if let Some((_, g)) = pool.record(&id) {
            pool.observe(
                &id,
                g,
                Observation {
                    passed: d.passed,
                    status: d.status,
                    gpu_type: d.gpu.map(|(name, _)| name.to_owned()),
                    vram_mb: d.gpu.map(|(_, mb)| mb),
                    engine: d.engine.map(str::to_owned),
                    hardware_probed: true,
                    ..Observation::default()
                },
            );
        }
    }
    (pool, held)
}

/// The least-busy scan without its index: the pool must take its scan path.
#[derive(Debug)]
struct ScanOnly;

impl Scheduler for ScanOnly {
    fn name(&self) -> &'static str {
        "least-busy-scan"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        LeastBusy.pick(request, nodes)
    }
}

proptest::proptest! {
    /// One rule everywhere: over random node states (admission for the epoch, health, status,
    /// slots, hardware) and requests (fallbacks, hints, exclusions), the pool takes a slot
    /// exactly when its views say some node is eligible, the retry path's `could_serve` agrees
    /// with `NodeView::could_take`, the picked node is eligible, and the index path and the
    /// scan path pick the same node.
    #[test]
    fn pool_index_scan_and_retry_path_agree_on_eligibility(
        nodes in proptest::collection::vec(arb_drawn(), 0..6),
        (chain, exclude) in arb_chain(),
    ) {
        let (indexed, _held_a) = drawn_pool(Arc::new(LeastBusy), &nodes);
        let (scanned, _held_b) = drawn_pool(Arc::new(ScanOnly), &nodes);
        let views: Vec<NodeView> = indexed.snapshot().into_iter().map(|s| s.view).collect();
        for (i, v) in views.iter().enumerate() {
            let d = &nodes[i];
            proptest::prop_assert_eq!(v.admitted, d.enabled || 5 <= d.disabled_in);
        }
        let requests = with_exclusions(&chain, &exclude);
        let eligible = views
            .iter()
            .any(|v| requests.iter().any(|r| v.eligible(r)));
        let could = views
            .iter()
            .any(|v| requests.iter().any(|r| v.could_take(r)));
        proptest::prop_assert_eq!(indexed.could_serve(&chain, &exclude), could);
        proptest::prop_assert_eq!(scanned.could_serve(&chain, &exclude), could);
        let a = indexed.try_acquire(&chain, &exclude);
        let b = scanned.try_acquire(&chain, &exclude);
        proptest::prop_assert_eq!(a.is_some(), eligible);
        proptest::prop_assert_eq!(
            a.as_ref().map(|p| p.node().clone()),
            b.as_ref().map(|p| p.node().clone())
        );
        if let Some(p) = &a {
            let v = views.iter().find(|v| v.id == *p.node()).unwrap();
            let r = requests.iter().find(|r| r.model == p.model()).unwrap();
            proptest::prop_assert!(v.eligible(r), "picked {} for {:?}", v.id, r);
        }
    }
}

#[test]
fn recorded_decisions_carry_the_breakdown_and_the_routable_candidates() {
    let pool = pool_with(Arc::new(ManualEpoch::new(0)), 8);
    pool.record_decisions(true);
    add(&pool, "a", 2);
    add(&pool, "b", 2);
    let gc = add(&pool, "c", 2);
    pool.observe("c", gc, Observation::default());
    let count_by_scan = |pool: &Arc<NodePool>| {
        pool.snapshot()
            .iter()
            .filter(|s| s.view.routable() && s.view.serves(M))
            .count() as u32
    };
    let mut p = pool.try_acquire(&chain(), &[]).unwrap();
    let d = p.take_decision().expect("a decision");
    assert_eq!(d.candidates, 2, "c failed its health check");
    assert_eq!(d.candidates, count_by_scan(&pool));
    assert!(d.breakdown.is_none(), "least-busy does not score");
    assert!(p.take_decision().is_none(), "taken once");
    // Removal and a node back: the count follows.
    pool.observe("c", gc, healthy());
    assert!(pool.remove("a"));
    let mut q = pool.try_acquire(&chain(), &[]).unwrap();
    assert_eq!(q.take_decision().unwrap().candidates, 2);
    assert_eq!(count_by_scan(&pool), 2);
    pool.record_decisions(false);
    let mut r = pool.try_acquire(&chain(), &[]).unwrap();
    assert!(r.take_decision().is_none(), "not recorded when off");
    drop((p, q, r));
}

#[test]
fn a_recorded_breakdown_scores_the_view_before_the_slot_was_taken() {
    let scored = crate::schedule::Scored::default();
    let pool = Arc::new(NodePool::new(
        Arc::new(crate::schedule::Scored::default()),
        Arc::new(ManualEpoch::new(0)),
        8,
        3,
    ));
    pool.record_decisions(true);
    add(&pool, "a", 4);
    let before = pool.snapshot()[0].view.clone();
    let mut p = pool.try_acquire(&chain(), &[]).unwrap();
    let after = pool.snapshot()[0].view.clone();
    assert_eq!((before.in_flight, after.in_flight), (0, 1));
    let breakdown = p
        .take_decision()
        .unwrap()
        .breakdown
        .expect("scored explains");
    let request = RequestInfo::for_model(M);
    assert_eq!(Some(breakdown.clone()), scored.explain(&request, &before));
    assert_ne!(
        Some(breakdown),
        scored.explain(&request, &after),
        "load counts"
    );
    drop(p);
}
