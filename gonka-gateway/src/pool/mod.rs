//! [`NodePool`]: the gateway's live view of every ML node, the in-flight slots (permits) and the
//! holding queue.
//!
//! The pool is fed by the registry change feed (see `sync`) and the health checker; requests never
//! call the registry. A pick asks the [`Scheduler`] (through its incremental index when the policy has one, see
//! [`gonka_core::SchedulerIndex`]; otherwise a scan of the node views) and takes the slot under
//! the same short lock, so `max_concurrent` is never exceeded and no pick races another.

mod breaker;
mod candidates;
mod entry;
mod liveness;
mod permit;
mod queue;
mod route_nodes;
mod route_pick;
mod share;
mod stats;
mod task_models;

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gonka_core::{
    EpochSource, NodeRecord, NodeStatus, NodeView, RequestInfo, Scheduler, SchedulerIndex,
};

pub use breaker::{Breaker, FailureKind};
pub use entry::{NodeSource, Observation};
pub use liveness::FleetNode;
pub use permit::{Decision, Outcome, Permit};
pub use route_pick::{RouteAlgorithm, RoutePick};
pub use share::ReplicaShare;
pub use stats::NodeStats;

use entry::Entry;
use queue::Waiter;

#[derive(Debug, Default)]
struct Table {
    views: Vec<NodeView>,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    /// Model → number of nodes declaring it (so `declares` is O(1) per request).
    declared: HashMap<String, usize>,
    /// The scheduler's incremental index over `views`, when its policy has one: kept in step
    /// with every change of a view so a pick costs O(log n) instead of a scan.
    sched_index: Option<Box<dyn SchedulerIndex>>,
    /// Per model, the routable nodes serving it (the candidate count of request traces).
    routable: candidates::RoutableCounts,
    /// The holding queue, best first: higher priority, then arrival order. Served eagerly (see
    /// `queue.rs`): whenever a slot frees or a node changes, under this same lock.
    waiters: BTreeMap<(Reverse<i32>, u64), Waiter>,
    /// This replica's part of every node's `max_concurrent` ([`NodePool::set_replica_share`]).
    share: ReplicaShare,
}

impl Table {
    fn count_models(&mut self, i: usize, add: bool) {
        let entry = &self.entries[i];
        let task_models = entry
            .task_models
            .iter()
            .filter(|m| !entry.record.node.models.contains_key(&***m))
            .map(|m| m.to_string());
        let models: Vec<String> = entry
            .record
            .node
            .models
            .keys()
            .cloned()
            .chain(task_models)
            .collect();
        for model in models {
            if add {
                *self.declared.entry(model).or_default() += 1;
            } else if let Some(n) = self.declared.get_mut(&model) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.declared.remove(&model);
                }
            }
        }
    }

    /// Tells the scheduler index that the view at `i` changed (or was pushed).
    fn reindex(&mut self, i: usize) {
        if let Some(index) = self.sched_index.as_mut() {
            index.update(i, &self.views[i]);
        }
        self.routable.update(i, &self.views[i]);
    }

    /// The scheduler's pick for `request`: through its index when it has one.
    fn pick(&self, scheduler: &dyn Scheduler, request: &RequestInfo) -> Option<usize> {
        match self.sched_index.as_ref() {
            Some(index) => index.pick(request, &self.views),
            None => scheduler.pick(request, &self.views),
        }
    }

    fn position(&self, id: &str, generation: u64) -> Option<usize> {
        self.index
            .get(id)
            .copied()
            .filter(|&i| self.entries[i].generation == generation)
    }
}

/// `chain` with the nodes in `exclude` added to every request's [`RequestInfo::exclude`]:
/// exclusions are part of the eligibility rule, so the scan and the index honour them alike.
fn with_exclusions<'a>(chain: &'a [RequestInfo], exclude: &[Arc<str>]) -> Cow<'a, [RequestInfo]> {
    if exclude.is_empty() {
        return Cow::Borrowed(chain);
    }
    Cow::Owned(
        chain
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.exclude.extend(exclude.iter().cloned());
                r
            })
            .collect(),
    )
}

/// What [`NodePool::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The node was not in the pool before.
    pub is_new: bool,
    /// Configuration, admin state or intended status changed: the broker should reconcile now.
    pub needs_reconcile: bool,
    /// The node's generation (changes when a node is deleted and registered again).
    pub generation: u64,
}

/// Why [`NodePool::acquire`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireError {
    /// No node became eligible before the deadline.
    Timeout,
    /// The holding queue is full.
    QueueFull,
    /// The pool is closed (the gateway is shutting down).
    Closed,
}

/// A node as reported by [`NodePool::snapshot`]: the scheduler view plus breaker state.
#[derive(Debug, Clone)]
pub struct NodeSnapshot {
    /// The scheduler's view.
    pub view: NodeView,
    /// Whether the circuit breaker is open.
    pub breaker_open: bool,
    /// Whether the last health check (or heartbeat) passed.
    pub health_passed: bool,
}

/// The live node set, permits and holding queue. Shared as `Arc<NodePool>`.
#[derive(Debug)]
pub struct NodePool {
    table: Mutex<Table>,
    scheduler: Arc<dyn Scheduler>,
    epoch: Arc<dyn EpochSource>,
    next_generation: AtomicU64,
    next_waiter: AtomicU64,
    queue_capacity: usize,
    breaker_threshold: u32,
    closed: AtomicBool,
    /// Whether permits carry a [`Decision`] (for request traces).
    record_decisions: AtomicBool,
    breaker_opened: AtomicU64,
    breaker_closed: AtomicU64,
    next_slot: AtomicU64,
    reaped: AtomicU64,
}

impl NodePool {
    /// An empty pool routing with `scheduler`.
    pub fn new(
        scheduler: Arc<dyn Scheduler>,
        epoch: Arc<dyn EpochSource>,
        queue_capacity: usize,
        breaker_threshold: u32,
    ) -> Self {
        Self {
            table: Mutex::new(Table {
                sched_index: scheduler.index(),
                ..Table::default()
            }),
            scheduler,
            epoch,
            next_generation: AtomicU64::new(1),
            next_waiter: AtomicU64::new(0),
            queue_capacity,
            breaker_threshold,
            closed: AtomicBool::new(false),
            record_decisions: AtomicBool::new(false),
            breaker_opened: AtomicU64::new(0),
            breaker_closed: AtomicU64::new(0),
            next_slot: AtomicU64::new(0),
            reaped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // Every mutation of the table is a plain field write; a poisoned lock holds consistent data.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The scheduler in use.
    pub fn scheduler(&self) -> &Arc<dyn Scheduler> {
        &self.scheduler
    }

    /// Inserts or updates a node from a registry record.
    pub fn apply(self: &Arc<Self>, record: NodeRecord) -> Applied {
        let epoch = self.epoch.current_epoch();
        let mut guard = self.lock();
        let t = &mut *guard;
        let applied = match t.index.get(&record.node.id).copied() {
            Some(i) => {
                t.count_models(i, false);
                let needs_reconcile = t.entries[i].set_record(record);
                t.count_models(i, true);
                t.entries[i].fill_view(&mut t.views[i], epoch, t.share);
                t.reindex(i);
                Applied {
                    is_new: false,
                    needs_reconcile,
                    generation: t.entries[i].generation,
                }
            }
            None => {
                let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
                let entry = Entry::new(generation, record);
                let mut view = NodeView::default();
                entry.fill_view(&mut view, epoch, t.share);
                t.index
                    .insert(entry.record.node.id.clone(), t.entries.len());
                t.entries.push(entry);
                t.views.push(view);
                t.count_models(t.entries.len() - 1, true);
                t.reindex(t.views.len() - 1);
                Applied {
                    is_new: true,
                    needs_reconcile: true,
                    generation,
                }
            }
        };
        let orphans = self.serve_waiters(t);
        drop(guard);
        drop(orphans);
        applied
    }

    /// Removes a node; its outstanding permits are released without effect. Returns whether it
    /// was present.
    pub fn remove(&self, id: &str) -> bool {
        let mut t = self.lock();
        let Some(i) = t.index.remove(id) else {
            return false;
        };
        t.count_models(i, false);
        let len = t.views.len();
        t.entries.swap_remove(i);
        t.views.swap_remove(i);
        if let Some(index) = t.sched_index.as_mut() {
            index.swap_remove(i, len);
        }
        t.routable.swap_remove(i);
        if i < t.entries.len() {
            let moved = t.entries[i].record.node.id.clone();
            t.index.insert(moved, i);
        }
        true
    }

    /// Ids of the nodes in the pool, in pool order.
    pub fn ids(&self) -> Vec<String> {
        self.lock()
            .entries
            .iter()
            .map(|e| e.record.node.id.clone())
            .collect()
    }

    /// The current registry record and generation of a node.
    pub fn record(&self, id: &str) -> Option<(NodeRecord, u64)> {
        let t = self.lock();
        t.index
            .get(id)
            .map(|&i| (t.entries[i].record.clone(), t.entries[i].generation))
    }

    /// Stores a health check result for the node (if `generation` is still current): a pass
    /// closes the breaker. Also re-evaluates admission against the current epoch.
    pub fn observe(self: &Arc<Self>, id: &str, generation: u64, observation: Observation) {
        let epoch = self.epoch.current_epoch();
        let mut guard = self.lock();
        let t = &mut *guard;
        let Some(i) = t.position(id, generation) else {
            return;
        };
        let e = &mut t.entries[i];
        e.stats.record_health(observation.passed);
        if observation.passed && e.breaker.on_health_pass() {
            self.breaker_closed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(node = id, "health check passed: circuit breaker closed");
        }
        // Keep hardware facts learned earlier when this check did not fetch them.
        let mut observation = observation;
        if !observation.hardware_probed {
            observation.gpu_type = e.observed.gpu_type.take();
            observation.vram_mb = e.observed.vram_mb;
            observation.gpu_vendor = e.observed.gpu_vendor.take();
            observation.gpu_count = e.observed.gpu_count;
            observation.hardware_probed = e.observed.hardware_probed;
        }
        e.observed = observation;
        let was_eligible_shape = t.views[i].healthy && t.views[i].status == NodeStatus::Inference;
        e.fill_view(&mut t.views[i], epoch, t.share);
        t.reindex(i);
        let now_eligible_shape = t.views[i].healthy && t.views[i].status == NodeStatus::Inference;
        let orphans = self.serve_waiters(t);
        drop(guard);
        drop(orphans);
        if now_eligible_shape && !was_eligible_shape {
            tracing::info!(node = id, "node is routable");
        }
    }

    /// Whether the node (at `generation`) is out of routing for its health: its last check
    /// failed or its breaker is open (the health checker then checks it more often).
    pub fn awaits_recovery(&self, id: &str, generation: u64) -> bool {
        let t = self.lock();
        t.position(id, generation).is_some_and(|i| {
            let e = &t.entries[i];
            !e.observed.passed || e.breaker.is_open()
        })
    }

    /// Whether the node's GPU devices were already listed (so health checks skip that call).
    pub fn knows_hardware(&self, id: &str) -> bool {
        let t = self.lock();
        t.index
            .get(id)
            .is_some_and(|&i| t.entries[i].observed.hardware_probed)
    }

    /// The GPU vendor and device count node `id`'s last `/api/v1/gpu/devices` reported
    /// (`(None, None)` when unknown or for an unknown node).
    pub fn gpu_facts(&self, id: &str) -> (Option<String>, Option<u32>) {
        let t = self.lock();
        t.index.get(id).map_or((None, None), |&i| {
            let observed = &t.entries[i].observed;
            (observed.gpu_vendor.clone(), observed.gpu_count)
        })
    }

    /// Tries to take a slot for the first request of `chain` that has an eligible node
    /// ([`NodeView::eligible`]), with the nodes in `exclude` added to every request's
    /// [`RequestInfo::exclude`]. Never waits.
    pub fn try_acquire(
        self: &Arc<Self>,
        chain: &[RequestInfo],
        exclude: &[Arc<str>],
    ) -> Option<Permit> {
        let mut guard = self.lock();
        self.take_slot(&mut guard, chain, exclude, None)
    }

    /// [`try_acquire`](Self::try_acquire) with the lock held; the requests `route` applies to
    /// pick their node by the route's algorithm instead of the scheduler.
    fn take_slot(
        self: &Arc<Self>,
        t: &mut Table,
        chain: &[RequestInfo],
        exclude: &[Arc<str>],
        route: Option<&RoutePick>,
    ) -> Option<Permit> {
        let chain = with_exclusions(chain, exclude);
        let mut found = None;
        for request in chain.iter() {
            let picked = match route {
                Some(r) if r.applies(request) => r.pick(t, request),
                _ => t.pick(self.scheduler.as_ref(), request),
            };
            if let Some(i) = picked {
                if t.views[i].eligible(request) {
                    found = Some((i, request.model.clone()));
                    break;
                }
                tracing::error!(
                    policy = self.scheduler.name(),
                    "scheduler returned an ineligible node; ignored"
                );
            }
        }
        let (i, model) = found?;
        let decision = self.decision(t, i, &chain, &model);
        t.views[i].in_flight += 1;
        t.reindex(i);
        let loaded_context = t.views[i]
            .loaded
            .iter()
            .find(|l| *l.name == *model)
            .map_or(0, |l| l.context_length);
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        let e = &mut t.entries[i];
        e.slots.insert(slot, tokio::time::Instant::now());
        Some(
            Permit::new(
                self.clone(),
                t.views[i].id.clone(),
                e.generation,
                slot,
                e.inference_url.clone(),
                model,
            )
            .with_decision(decision)
            .with_loaded_context(loaded_context),
        )
    }

    /// From now on, permits carry why their node was chosen ([`Permit::take_decision`]): the
    /// scheduler's score breakdown of the chosen node and the number of routable nodes serving
    /// the model (kept per model as views change: a lookup, not a scan). Off by default; the
    /// gateway turns it on when it records traces.
    pub fn record_decisions(&self, on: bool) {
        self.record_decisions.store(on, Ordering::Relaxed);
    }

    /// The [`Decision`] of picking node `i` for the request of `chain` for `model`, when
    /// decisions are recorded.
    fn decision(
        &self,
        t: &Table,
        i: usize,
        chain: &[RequestInfo],
        model: &str,
    ) -> Option<Box<Decision>> {
        if !self.record_decisions.load(Ordering::Relaxed) {
            return None;
        }
        let request = chain.iter().find(|r| r.model == model)?;
        Some(Box::new(Decision {
            breakdown: self.scheduler.explain(request, &t.views[i]),
            candidates: t.routable.get(model),
        }))
    }

    pub(crate) fn release(
        self: &Arc<Self>,
        id: &str,
        generation: u64,
        slot: u64,
        outcome: Outcome,
    ) {
        let mut guard = self.lock();
        let t = &mut *guard;
        if let Some(i) = t.position(id, generation) {
            let e = &mut t.entries[i];
            // A slot the zombie reaper returned already is not counted down twice.
            let held = e.slots.remove(&slot).is_some();
            match outcome {
                Outcome::Success { latency_ms } => {
                    e.breaker.on_success();
                    e.stats.record_success(latency_ms);
                }
                Outcome::Failure(kind) => {
                    e.stats.record_failure();
                    if e.breaker.on_failure(kind, self.breaker_threshold) {
                        self.breaker_opened.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(node = id, ?kind, "circuit breaker opened");
                    }
                }
                Outcome::Cancelled => {}
            }
            let v = &mut t.views[i];
            if held {
                v.in_flight = v.in_flight.saturating_sub(1);
            }
            v.healthy = e.observed.passed && !e.breaker.is_open();
            v.latency_p50_ms = e.stats.p50_ms;
            v.latency_p75_ms = e.stats.p75_ms;
            v.latency_p95_ms = e.stats.p95_ms;
            v.error_rate = e.stats.error_rate;
            t.reindex(i);
        }
        let orphans = self.serve_waiters(t);
        drop(guard);
        drop(orphans);
    }

    /// Models that at least one node could serve now ([`NodeView::routable`]), sorted.
    pub fn servable_models(&self) -> Vec<String> {
        let t = self.lock();
        let mut models: Vec<String> = t
            .views
            .iter()
            .filter(|v| v.routable())
            .flat_map(|v| v.models.iter().map(|m| m.to_string()))
            .collect();
        models.sort();
        models.dedup();
        models
    }

    /// Whether any node could serve `model` now, capacity aside.
    pub fn has_candidate(&self, model: &str) -> bool {
        self.could_serve(&[RequestInfo::for_model(model)], &[])
    }

    /// Whether some node could take one request of `chain` once a slot frees
    /// ([`NodeView::could_take`], hints included), with the nodes in `exclude` excluded. When
    /// none could, waiting in the holding queue is pointless.
    pub fn could_serve(&self, chain: &[RequestInfo], exclude: &[Arc<str>]) -> bool {
        let chain = with_exclusions(chain, exclude);
        let t = self.lock();
        t.views
            .iter()
            .any(|v| chain.iter().any(|request| v.could_take(request)))
    }

    /// Whether any registered node declares `model` in its configuration.
    pub fn declares(&self, model: &str) -> bool {
        self.lock().declared.contains_key(model)
    }

    /// A copy of every node's view and breaker state (for metrics and diagnostics).
    pub fn snapshot(&self) -> Vec<NodeSnapshot> {
        let t = self.lock();
        t.views
            .iter()
            .zip(&t.entries)
            .map(|(v, e)| NodeSnapshot {
                view: v.clone(),
                breaker_open: e.breaker.is_open(),
                health_passed: e.observed.passed,
            })
            .collect()
    }

    /// How many nodes the pool holds (routable or not).
    pub fn node_count(&self) -> usize {
        self.lock().views.len()
    }

    /// How many nodes are routable now ([`NodeView::routable`]): what readiness needs.
    pub fn routable_nodes(&self) -> usize {
        self.lock().views.iter().filter(|v| v.routable()).count()
    }

    /// `(opened, closed)`: circuit breaker transitions since the pool was made, all nodes.
    pub fn breaker_transitions(&self) -> (u64, u64) {
        (
            self.breaker_opened.load(Ordering::Relaxed),
            self.breaker_closed.load(Ordering::Relaxed),
        )
    }

    /// Total requests in flight across nodes.
    pub fn in_flight(&self) -> u32 {
        self.lock().views.iter().map(|v| v.in_flight).sum()
    }
}

#[cfg(test)]
mod tests;
