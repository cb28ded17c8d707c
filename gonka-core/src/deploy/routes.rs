//! Model routes: which task group serves a model name. The best priority (0 highest) that has a
//! healthy backend wins; within it, traffic splits by weight (0–100; weight 0 routes only when
//! every weighted route of that priority is down). This is the canary flow: v1 at 100, canary at
//! 20 → 100:20, then 80:20, then 100:0.

use std::sync::Arc;

use crate::deploy::spec::{Qos, RouteSpec};

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelRoute {
    /// `mr-{hex16}`.
    pub id: String,
    /// Model name clients send.
    pub model_name: String,
    /// Task group serving it.
    pub task_group_id: String,
    /// Engine of that group, for display.
    #[serde(default)]
    pub engine: Option<String>,
    /// Priority, weight, version label and algorithm.
    #[serde(flatten)]
    pub spec: RouteSpec,
    /// `active` routes take traffic; `inactive` ones are kept but skipped.
    pub active: bool,
}

/// The route for one request among `routes` for its model: the lowest priority number with a
/// healthy group (`healthy(task_group_id)`), split by weight with `draw` (uniform in
/// `0..u32::MAX`, one per request). `None` when no active route has a healthy group.
pub fn pick_route(
    routes: &[ModelRoute],
    healthy: impl Fn(&str) -> bool,
    draw: u32,
) -> Option<&ModelRoute> {
    let live: Vec<&ModelRoute> = routes
        .iter()
        .filter(|r| r.active && healthy(&r.task_group_id))
        .collect();
    let best = live.iter().map(|r| r.spec.priority).min()?;
    let tier: Vec<&ModelRoute> = live
        .into_iter()
        .filter(|r| r.spec.priority == best)
        .collect();
    let total: u64 = tier.iter().map(|r| u64::from(r.spec.weight.min(100))).sum();
    if total == 0 {
        // Only fallbacks (weight 0) left: the first one, by id for a stable choice.
        return tier.into_iter().min_by(|a, b| a.id.cmp(&b.id));
    }
    let mut point = u64::from(draw) * total / (u64::from(u32::MAX) + 1);
    for r in &tier {
        let w = u64::from(r.spec.weight.min(100));
        if point < w {
            return Some(r);
        }
        point -= w;
    }
    tier.last().copied()
}

/// Holding-queue priority distance between two QoS classes.
pub const QOS_PRIORITY_STEP: i32 = 1 << 20;

/// The holding-queue priority (higher is served first) of a request for a deployment of QoS
/// class `qos` that asked for priority `requested` (its `x-gonka-priority`, 0 by default): gold
/// `+QOS_PRIORITY_STEP`, silver 0 (the priority of requests for models that are not
/// deployments), bronze `-QOS_PRIORITY_STEP`, plus `requested` clamped to less than half a
/// step. So every waiting gold request is served before any silver one and silver before
/// bronze, whatever priority the clients ask for; within a class, the asked priority orders the
/// waiters and equal ones are served first come, first served.
pub fn queue_priority(qos: Qos, requested: i32) -> i32 {
    let half = QOS_PRIORITY_STEP / 2 - 1;
    let base = match qos {
        Qos::Gold => QOS_PRIORITY_STEP,
        Qos::Silver => 0,
        Qos::Bronze => -QOS_PRIORITY_STEP,
    };
    base + requested.clamp(-half, half)
}

/// Routes grouped by model name, for lookups on the request path.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    by_model: std::collections::HashMap<Arc<str>, Vec<ModelRoute>>,
}

impl RouteTable {
    /// A table of `routes`.
    pub fn new(routes: impl IntoIterator<Item = ModelRoute>) -> Self {
        let mut by_model: std::collections::HashMap<Arc<str>, Vec<ModelRoute>> = Default::default();
        for r in routes {
            by_model
                .entry(Arc::from(r.model_name.as_str()))
                .or_default()
                .push(r);
        }
        for list in by_model.values_mut() {
            list.sort_by(|a, b| a.id.cmp(&b.id));
        }
        Self { by_model }
    }

    /// The routes of `model` (empty when it has none: the model is not a deployment).
    pub fn routes(&self, model: &str) -> &[ModelRoute] {
        self.by_model.get(model).map(Vec::as_slice).unwrap_or(&[])
    }

    /// [`pick_route`] over the routes of `model`.
    pub fn pick(
        &self,
        model: &str,
        healthy: impl Fn(&str) -> bool,
        draw: u32,
    ) -> Option<&ModelRoute> {
        pick_route(self.routes(model), healthy, draw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, group: &str, priority: u32, weight: u32, version: &str) -> ModelRoute {
        ModelRoute {
            id: id.into(),
            model_name: "svc".into(),
            task_group_id: group.into(),
            engine: None,
            spec: RouteSpec {
                priority,
                weight,
                version: version.into(),
                algorithm: "round_robin".into(),
            },
            active: true,
        }
    }

    /// Share of `n` evenly spread draws that each route gets.
    fn shares(routes: &[ModelRoute], healthy: impl Fn(&str) -> bool, n: u32) -> Vec<(String, f64)> {
        let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..n {
            // xorshift32: a fixed, evenly spread sequence.
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let r = pick_route(routes, &healthy, x).unwrap();
            *counts.entry(r.spec.version.clone()).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(k, v)| (k, f64::from(v) / f64::from(n)))
            .collect()
    }

    #[test]
    fn canary_split_is_within_three_percent_over_10000_requests() {
        let mut routes = vec![
            route("mr-a", "g1", 0, 100, "v1"),
            route("mr-b", "g2", 0, 20, "canary"),
        ];
        let s = shares(&routes, |_| true, 10_000);
        assert!((s[0].1 - 20.0 / 120.0).abs() < 0.03, "{s:?}");
        routes[0].spec.weight = 80;
        let s = shares(&routes, |_| true, 10_000);
        assert_eq!(s[0].0, "canary");
        assert!((s[0].1 - 0.20).abs() < 0.03, "{s:?}");
        assert!((s[1].1 - 0.80).abs() < 0.03, "{s:?}");
        routes[0].spec.weight = 100;
        routes[1].spec.weight = 0;
        let s = shares(&routes, |_| true, 10_000);
        assert_eq!(s, vec![("v1".to_string(), 1.0)]);
    }

    #[test]
    fn qos_classes_order_queue_priorities_whatever_the_client_asks() {
        let extremes = [i32::MIN, -5, 0, 5, i32::MAX];
        for a in extremes {
            for b in extremes {
                assert!(queue_priority(Qos::Gold, a) > queue_priority(Qos::Silver, b));
                assert!(queue_priority(Qos::Silver, a) > queue_priority(Qos::Bronze, b));
            }
        }
        assert_eq!(queue_priority(Qos::Silver, 0), 0);
        assert_eq!(queue_priority(Qos::Silver, 7), 7);
        assert!(queue_priority(Qos::Gold, 1) > queue_priority(Qos::Gold, 0));
        assert_eq!(queue_priority(Qos::Bronze, 3), 3 - QOS_PRIORITY_STEP);
    }

    #[test]
    fn lower_priority_takes_over_only_when_the_best_is_down() {
        let routes = vec![
            route("mr-a", "main", 0, 100, "v1"),
            route("mr-b", "backup", 1, 100, "v0"),
        ];
        assert_eq!(pick_route(&routes, |_| true, 7).unwrap().spec.version, "v1");
        assert_eq!(
            pick_route(&routes, |g| g != "main", 7)
                .unwrap()
                .spec
                .version,
            "v0"
        );
        assert!(pick_route(&routes, |_| false, 7).is_none());
    }

    #[test]
    fn weight_zero_is_a_fallback_and_inactive_routes_are_skipped() {
        let mut routes = vec![
            route("mr-a", "g1", 0, 50, "v1"),
            route("mr-b", "g2", 0, 0, "spare"),
        ];
        for draw in [0, u32::MAX / 2, u32::MAX] {
            assert_eq!(
                pick_route(&routes, |_| true, draw).unwrap().spec.version,
                "v1"
            );
        }
        assert_eq!(
            pick_route(&routes, |g| g != "g1", 0).unwrap().spec.version,
            "spare"
        );
        routes[1].active = false;
        assert!(pick_route(&routes, |g| g != "g1", 0).is_none());
        let table = RouteTable::new(routes);
        assert_eq!(table.routes("svc").len(), 2);
        assert!(table.routes("other").is_empty());
        assert_eq!(table.pick("svc", |_| true, 1).unwrap().id, "mr-a");
    }
}
