//! The gateway's view of deployments for routing: the model routes by model name, each route's
//! task group, and the nodes where that group's tasks run. Refreshed from the
//! [`DeploymentStore`] every second (and at start) into an immutable [`Snapshot`]; the request
//! path reads the current snapshot (an `Arc` clone under a read lock) and never calls the store,
//! except once per endpoint API key it has not seen ([`DeployRoutes::resolve_key`]).
//!
//! A request for a model that has routes goes to the route [`pick_route`] draws (the best
//! priority with a healthy group, split by weight; weight 0 only as fallback), and within it to
//! the nodes running that group's tasks: `running` ones, or when none of them could take the
//! request, `sleeping` (or `waking`) ones — the ML node agent wakes a sleeping instance when a
//! request for its model arrives. A group is healthy when one of those nodes could take the
//! request ([`NodePool::could_take_any`]); running nodes whose tasks of the group all fail their
//! health checks ([`crate::task_health`]) are left out. Among the nodes, the route's algorithm
//! picks ([`RouteChoice::pick`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use gonka_core::deploy::model::hash_api_key;
use gonka_core::deploy::spec::HealthCheck;
use gonka_core::deploy::{
    pick_route, DeploymentStore, ModelRoute, Qos, RouteTable, Task, TaskFilter, TaskGroup,
    TaskStatus,
};
use tokio::sync::watch;

use crate::pool::{NodePool, RouteAlgorithm, RoutePick};
use crate::task_health::TaskHealthBook;

/// How often the view is refreshed from the store.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Most store look-ups of unknown API keys per refresh period; keys beyond it are taken as not
/// being endpoint keys until the next period (a flood of random keys cannot flood the store).
pub const KEY_LOOKUPS_PER_PERIOD: u32 = 256;

/// Most keys remembered as "not an endpoint key" per refresh period.
const NEGATIVE_KEYS: usize = 10_000;

/// One task group as routing sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupView {
    /// The group's name (the model name its clients send by default).
    pub name: String,
    /// Its QoS class (queue priority of its requests).
    pub qos: Qos,
    /// Nodes with a `running` task of the group, sorted, each once.
    pub running: Vec<Arc<str>>,
    /// Nodes with a `sleeping` or `waking` task of the group (and no running one), sorted.
    pub wakeable: Vec<Arc<str>>,
    /// Model names the group's endpoint key may ask for: its name and the model of every route
    /// to it, sorted.
    pub models: Vec<String>,
}

/// A running task the continuous health checks probe: where its instance listens and its
/// group's check.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthTarget {
    /// The task.
    pub task_id: String,
    /// Its group.
    pub group_id: String,
    /// Its node.
    pub node_id: Arc<str>,
    /// Its instance's port.
    pub port: u16,
    /// The group's health check.
    pub check: HealthCheck,
}

/// An immutable picture of the deployments, as of one refresh.
#[derive(Debug, Default)]
pub struct Snapshot {
    routes: RouteTable,
    groups: HashMap<String, GroupView>,
    targets: Vec<HealthTarget>,
}

impl Snapshot {
    /// The picture of `groups`, their `tasks` and `routes`.
    pub fn build(groups: Vec<TaskGroup>, tasks: &[Task], routes: Vec<ModelRoute>) -> Self {
        let checks: HashMap<String, HealthCheck> = groups
            .iter()
            .map(|g| (g.id.clone(), g.spec.health_check.clone()))
            .collect();
        let targets = tasks
            .iter()
            .filter(|t| t.status == TaskStatus::Running)
            .filter_map(|t| {
                Some(HealthTarget {
                    task_id: t.id.clone(),
                    group_id: t.group_id.clone(),
                    node_id: Arc::from(t.node_id.as_deref()?),
                    port: *t.ports.first()?,
                    check: checks.get(&t.group_id)?.clone(),
                })
            })
            .collect();
        let mut views: HashMap<String, GroupView> = groups
            .into_iter()
            .map(|g| {
                let view = GroupView {
                    models: vec![g.spec.name.clone()],
                    name: g.spec.name,
                    qos: g.spec.qos,
                    ..GroupView::default()
                };
                (g.id, view)
            })
            .collect();
        for t in tasks {
            let (Some(view), Some(node)) = (views.get_mut(&t.group_id), t.node_id.as_deref())
            else {
                continue;
            };
            match t.status {
                TaskStatus::Running => view.running.push(Arc::from(node)),
                TaskStatus::Sleeping | TaskStatus::Waking => view.wakeable.push(Arc::from(node)),
                _ => {}
            }
        }
        for r in &routes {
            if let Some(view) = views.get_mut(&r.task_group_id) {
                view.models.push(r.model_name.clone());
            }
        }
        for view in views.values_mut() {
            for list in [&mut view.running, &mut view.wakeable] {
                list.sort();
                list.dedup();
            }
            let running: HashSet<Arc<str>> = view.running.iter().cloned().collect();
            view.wakeable.retain(|n| !running.contains(n));
            view.models.sort();
            view.models.dedup();
        }
        Self {
            routes: RouteTable::new(routes),
            groups: views,
            targets,
        }
    }

    /// The routes of `model` (empty: the model is not a deployment).
    pub fn routes(&self, model: &str) -> &[ModelRoute] {
        self.routes.routes(model)
    }

    /// The group with `id`, when it exists.
    pub fn group(&self, id: &str) -> Option<&GroupView> {
        self.groups.get(id)
    }

    /// The running tasks with a node and a port, with their group's health check.
    pub fn health_targets(&self) -> &[HealthTarget] {
        &self.targets
    }

    /// Node id → the names of the groups with a live task there (running, asleep or waking):
    /// the models each node serves through its task instances.
    pub fn task_models(&self) -> HashMap<String, Vec<String>> {
        let mut served: HashMap<String, Vec<String>> = HashMap::new();
        for view in self.groups.values() {
            for node in view.running.iter().chain(&view.wakeable) {
                served
                    .entry(node.to_string())
                    .or_default()
                    .push(view.name.clone());
            }
        }
        served
    }
}

/// The route a request takes and the nodes it may go to.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteChoice {
    /// The route's id (`x-gonka-route`).
    pub route_id: String,
    /// Its version label (`x-gonka-route-version`).
    pub version: String,
    /// Its task group.
    pub group_id: String,
    /// The group's QoS class.
    pub qos: Qos,
    /// The nodes the request may go to: the group's running nodes, or its wakeable ones when no
    /// running node could take it.
    pub nodes: Vec<Arc<str>>,
    /// The route's algorithm choosing among `nodes`.
    pub algorithm: RouteAlgorithm,
    /// The request's turn for the algorithm: the route's request count (round robin, and least
    /// connections' ties), or a uniform draw (random).
    pub turn: u64,
}

impl RouteChoice {
    /// How the pool picks the node of a request for `model` routed by this choice.
    pub fn pick(&self, model: &str) -> RoutePick {
        RoutePick {
            model: model.to_owned(),
            nodes: self.nodes.clone(),
            algorithm: self.algorithm,
            turn: self.turn,
        }
    }
}

/// What an endpoint API key may do: ask for the models of its group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyScope {
    /// The endpoint's group.
    pub group_id: String,
    /// The endpoint's name (its group's name).
    pub name: String,
}

#[derive(Debug, Default)]
struct KeyCache {
    /// Key digest (hex) → its scope (`None`: not an endpoint key).
    known: HashMap<String, Option<Arc<KeyScope>>>,
    negatives: usize,
}

/// The gateway's deployment view (see the module docs). Shared as `Arc<DeployRoutes>`.
#[derive(Debug)]
pub struct DeployRoutes {
    store: Arc<dyn DeploymentStore>,
    /// The pool told, at each refresh, which models the nodes serve through task instances.
    pool: Option<Arc<NodePool>>,
    current: RwLock<Arc<Snapshot>>,
    keys: Mutex<KeyCache>,
    lookups_left: AtomicU32,
    /// Route id → requests it routed (round robin's turns), for the routes that exist.
    turns: Mutex<HashMap<String, u64>>,
    /// The running tasks' health (the continuous checks write it, routing reads it).
    health: Arc<TaskHealthBook>,
}

impl DeployRoutes {
    /// An empty view over `store`; [`refresh`](Self::refresh) or [`run`](Self::run) fills it.
    pub fn new(store: Arc<dyn DeploymentStore>) -> Self {
        Self {
            store,
            pool: None,
            current: RwLock::new(Arc::new(Snapshot::default())),
            keys: Mutex::new(KeyCache::default()),
            lookups_left: AtomicU32::new(KEY_LOOKUPS_PER_PERIOD),
            turns: Mutex::new(HashMap::new()),
            health: Arc::new(TaskHealthBook::default()),
        }
    }

    /// This view telling `pool`, at each refresh, the models each node serves through its
    /// deployment task instances (running, asleep or waking: the group's name), so requests for
    /// a deployment's model find the nodes running it.
    pub fn with_pool(mut self, pool: Arc<NodePool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The running tasks' health: nodes whose tasks of a group all fail their health checks
    /// take no requests for that group ([`crate::task_health`]).
    pub fn health(&self) -> &Arc<TaskHealthBook> {
        &self.health
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, KeyCache> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads groups, tasks and routes from the store and makes them the current snapshot; keys
    /// of groups that are gone are forgotten, and so are the keys known not to be endpoint keys
    /// (a key created since is found on its next use).
    ///
    /// # Errors
    /// The store's; the previous snapshot stays.
    pub async fn refresh(&self) -> gonka_core::Result<()> {
        let groups = self.store.groups().await?;
        let tasks = self.store.tasks(&TaskFilter::default()).await?;
        let routes = self.store.routes().await?;
        let route_ids: HashSet<String> = routes.iter().map(|r| r.id.clone()).collect();
        let snapshot = Arc::new(Snapshot::build(groups, &tasks, routes));
        if let Some(pool) = &self.pool {
            pool.set_task_models(&snapshot.task_models());
        }
        {
            let mut keys = self.keys();
            keys.known.retain(|_, scope| {
                scope
                    .as_ref()
                    .is_some_and(|s| snapshot.groups.contains_key(&s.group_id))
            });
            keys.negatives = 0;
        }
        self.lookups_left
            .store(KEY_LOOKUPS_PER_PERIOD, Ordering::Relaxed);
        self.turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| route_ids.contains(id));
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = snapshot;
        Ok(())
    }

    /// Refreshes now and then every `interval` until `stopped` turns true. A failed refresh is
    /// logged and the previous snapshot kept.
    pub async fn run(self: Arc<Self>, interval: Duration, mut stopped: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "deployment routes: refresh failed; keeping the last view");
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }

    /// The scope of `key` when it is a deployment endpoint's API key, else `None`. Known keys
    /// are answered from memory; an unseen key costs one store look-up (at most
    /// [`KEY_LOOKUPS_PER_PERIOD`] per refresh period; beyond that, and when the store fails,
    /// the key is taken as not an endpoint key).
    pub async fn resolve_key(&self, key: &str) -> Option<Arc<KeyScope>> {
        let digest = hash_api_key(key);
        if let Some(known) = self.keys().known.get(&digest) {
            return known.clone();
        }
        let budget = self
            .lookups_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if budget.is_err() {
            return None;
        }
        let endpoint = match self.store.endpoint_by_key(&digest).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "deployment routes: endpoint key look-up failed");
                return None;
            }
        };
        let scope = endpoint.map(|e| {
            Arc::new(KeyScope {
                group_id: e.task_group_id,
                name: e.name,
            })
        });
        let mut keys = self.keys();
        if scope.is_some() {
            keys.known.insert(digest, scope.clone());
        } else if keys.negatives < NEGATIVE_KEYS {
            keys.negatives += 1;
            keys.known.insert(digest, None);
        }
        scope
    }

    /// Whether `scope`'s key may ask for `model`: the model is its group's name or the model of
    /// a route to its group.
    pub fn allows(&self, scope: &KeyScope, model: &str) -> bool {
        match self.snapshot().group(&scope.group_id) {
            Some(g) => g.models.iter().any(|m| m == model),
            // Created after the last refresh: its own name only.
            None => scope.name == model,
        }
    }

    /// The route of a request for `model` and the nodes it may go to, or `None` when the model
    /// has no route with a healthy group (the request is then routed as any other). Nodes in
    /// `excluded` (tried already) do not count. `only_group`: consider only the routes to that
    /// group (a request with the group's endpoint key). `draw`: uniform in `0..=u32::MAX`, one
    /// per request, for the weight split.
    pub fn choose(
        &self,
        model: &str,
        pool: &NodePool,
        excluded: &[Arc<str>],
        only_group: Option<&str>,
        draw: u32,
    ) -> Option<RouteChoice> {
        let snapshot = self.snapshot();
        let routes: Vec<ModelRoute> = snapshot
            .routes(model)
            .iter()
            .filter(|r| r.active && only_group.is_none_or(|g| g == r.task_group_id))
            .cloned()
            .collect();
        if routes.is_empty() {
            return None;
        }
        let empty = GroupView::default();
        let groups: Vec<&GroupView> = routes
            .iter()
            .map(|r| snapshot.group(&r.task_group_id).unwrap_or(&empty))
            .collect();
        // Running nodes whose tasks of the group all fail their health checks are left out.
        let unhealthy = self.health.unhealthy_nodes();
        let running: Vec<Cow<'_, [Arc<str>]>> = routes
            .iter()
            .zip(&groups)
            .map(|(r, g)| match unhealthy.get(&r.task_group_id) {
                None => Cow::Borrowed(g.running.as_slice()),
                Some(bad) => Cow::Owned(
                    g.running
                        .iter()
                        .filter(|n| !bad.contains(n))
                        .cloned()
                        .collect(),
                ),
            })
            .collect();
        let mut sets: Vec<&[Arc<str>]> = Vec::with_capacity(groups.len() * 2);
        for (g, run) in groups.iter().zip(&running) {
            sets.push(run);
            sets.push(&g.wakeable);
        }
        let usable = pool.could_take_any(model, &sets, excluded);
        let health: HashMap<&str, (bool, bool)> = routes
            .iter()
            .enumerate()
            .map(|(i, r)| (r.task_group_id.as_str(), (usable[2 * i], usable[2 * i + 1])))
            .collect();
        let route = pick_route(
            &routes,
            |g| health.get(g).is_some_and(|(run, wake)| *run || *wake),
            draw,
        )?;
        let group = snapshot.group(&route.task_group_id)?;
        let running_ok = health
            .get(route.task_group_id.as_str())
            .is_some_and(|(run, _)| *run);
        let nodes = match routes.iter().position(|r| r.id == route.id) {
            Some(i) if running_ok => running[i].to_vec(),
            _ => group.wakeable.clone(),
        };
        let algorithm = RouteAlgorithm::from_name(&route.spec.algorithm);
        let turn = match algorithm {
            RouteAlgorithm::Random => rand::random::<u64>(),
            RouteAlgorithm::RoundRobin | RouteAlgorithm::LeastConnections => {
                let mut turns = self.turns.lock().unwrap_or_else(|p| p.into_inner());
                let n = turns.entry(route.id.clone()).or_default();
                *n = n.wrapping_add(1);
                *n - 1
            }
        };
        Some(RouteChoice {
            route_id: route.id.clone(),
            version: route.spec.version.clone(),
            group_id: route.task_group_id.clone(),
            qos: group.qos,
            nodes,
            algorithm,
            turn,
        })
    }
}

#[cfg(test)]
mod tests;
