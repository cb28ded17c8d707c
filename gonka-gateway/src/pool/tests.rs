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
    for _ in 0..500 {
        if pool.queue_depth() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(pool.queue_depth(), 1);
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
    tokio::time::sleep(Duration::from_millis(20)).await;
    pool.observe("a", g, healthy());
    assert!(waiter.await.unwrap());
}

#[tokio::test]
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
    for _ in 0..500 {
        if pool.queue_depth() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
    for _ in 0..1000 {
        if pool.queue_depth() == depth {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(pool.queue_depth(), depth);
    handle
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
