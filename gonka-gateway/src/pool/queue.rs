//! The holding queue: waiting for a slot when no node is eligible, bounded in size and time,
//! served in order — higher `priority` first, then first come, first served.
//!
//! Waiters are served eagerly: every change that can make a node eligible for someone (a slot
//! released, a node added or updated, a health check) hands slots to waiting requests, best
//! first, under the pool lock, before anyone else can take them. So a request that finds a free
//! slot on arrival never overtakes a waiter that could have used it; the wait costs no polling
//! and wakes exactly the waiters that are served, not all of them.

use std::cmp::Reverse;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use gonka_core::RequestInfo;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{AcquireError, NodePool, Permit, RoutePick, Table};

/// A queued request: what it asks for and where its slot goes.
#[derive(Debug)]
pub(super) struct Waiter {
    /// The requests, exclusions included.
    chain: Vec<RequestInfo>,
    /// How the requests of a model route pick their node.
    route: Option<RoutePick>,
    tx: oneshot::Sender<Permit>,
}

type WaiterKey = (Reverse<i32>, u64);

/// What a waiter asks for, as far as eligibility goes: its requests (priority aside) and the
/// model and nodes of its model route, if any.
type Demand = (Vec<RequestInfo>, Option<(String, Vec<Arc<str>>)>);

impl NodePool {
    /// Takes a slot like [`try_acquire`](Self::try_acquire), waiting in the holding queue until
    /// `deadline` when no node is eligible now. Waiters are served by priority (of the first
    /// request of `chain`), then in arrival order.
    ///
    /// # Errors
    /// `QueueFull` when `queue_capacity` requests already wait; `Timeout` at the deadline;
    /// `Closed` once [`close`](Self::close) was called.
    pub async fn acquire(
        self: &Arc<Self>,
        chain: &[RequestInfo],
        exclude: &[Arc<str>],
        deadline: Instant,
    ) -> Result<Permit, AcquireError> {
        self.acquire_routed(chain, exclude, deadline, None).await
    }

    /// [`acquire`](Self::acquire) where the requests of `chain` that `route` applies to (those
    /// for the route's model) pick their node among the route's nodes by the route's algorithm,
    /// now and when served from the queue; the other requests use the scheduler.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_routed(
        self: &Arc<Self>,
        chain: &[RequestInfo],
        exclude: &[Arc<str>],
        deadline: Instant,
        route: Option<RoutePick>,
    ) -> Result<Permit, AcquireError> {
        let (key, mut rx) = {
            let mut t = self.lock();
            if let Some(permit) = self.take_slot(&mut t, chain, exclude, route.as_ref()) {
                return Ok(permit);
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(AcquireError::Closed);
            }
            if t.waiters.len() >= self.queue_capacity {
                return Err(AcquireError::QueueFull);
            }
            let (tx, rx) = oneshot::channel();
            let priority = chain.first().map_or(0, |r| r.priority);
            let key = (
                Reverse(priority),
                self.next_waiter.fetch_add(1, Ordering::Relaxed),
            );
            let waiter = Waiter {
                chain: super::with_exclusions(chain, exclude).into_owned(),
                route,
                tx,
            };
            t.waiters.insert(key, waiter);
            (key, rx)
        };
        // Leaves the queue when this future is dropped (client gone) before being served.
        let queued = Queued { pool: self, key };
        match tokio::time::timeout_at(deadline, &mut rx).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(AcquireError::Closed),
            Err(_) => {
                // Leave the queue first, then take a slot handed over meanwhile, if any.
                drop(queued);
                rx.try_recv().map_err(|_| AcquireError::Timeout)
            }
        }
    }

    /// Requests waiting in the holding queue now.
    pub fn queue_depth(&self) -> usize {
        self.lock().waiters.len()
    }

    /// Fails every waiter with `Closed` and makes new waits fail at once (shutdown).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let waiters = std::mem::take(&mut self.lock().waiters);
        drop(waiters);
    }

    /// Hands slots to waiters, best first, as long as some waiter can use one. Called with the
    /// lock held after every change that can make a node eligible. Returns the permits of
    /// waiters that left in the meantime: the caller drops them after unlocking (dropping a
    /// permit takes the lock).
    pub(super) fn serve_waiters(self: &Arc<Self>, t: &mut Table) -> Vec<Permit> {
        let mut orphans = Vec::new();
        if t.waiters.is_empty() {
            return orphans;
        }
        // Chains that found no slot in this pass: later waiters with the same demand (the same
        // requests, priority aside) are skipped without a pick. The key holds every input of the
        // eligibility rule, hints and exclusions included: a filtered chain that found nothing
        // says nothing about an unfiltered one. A model route's nodes are part of it (its
        // requests pick among those only).
        let mut unservable: HashSet<Demand> = HashSet::new();
        let keys: Vec<WaiterKey> = t.waiters.keys().copied().collect();
        for key in keys {
            let Some(waiter) = t.waiters.remove(&key) else {
                continue;
            };
            if waiter.tx.is_closed() {
                continue;
            }
            let requests: Vec<RequestInfo> = waiter
                .chain
                .iter()
                .map(|r| RequestInfo {
                    priority: 0,
                    ..r.clone()
                })
                .collect();
            let demand = (
                requests,
                waiter
                    .route
                    .as_ref()
                    .map(|r| (r.model.clone(), r.nodes.clone())),
            );
            if unservable.contains(&demand) {
                t.waiters.insert(key, waiter);
                continue;
            }
            match self.take_slot(t, &waiter.chain, &[], waiter.route.as_ref()) {
                Some(permit) => {
                    if let Err(permit) = waiter.tx.send(permit) {
                        orphans.push(permit);
                    }
                }
                None => {
                    unservable.insert(demand);
                    t.waiters.insert(key, waiter);
                }
            }
        }
        orphans
    }
}

/// A waiter's place in the queue; removes it when dropped.
struct Queued<'a> {
    pool: &'a NodePool,
    key: WaiterKey,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let waiter = self.pool.lock().waiters.remove(&self.key);
        drop(waiter);
    }
}
