//! Fleet health and recommendations from the pool's live view and the traces of a window
//! (`GET /dashboard/api/health`, `/dashboard/api/recommendations`).

use std::collections::{BTreeMap, BTreeSet};

use gonka_core::traces::PerformanceRow;
use gonka_core::NodeStatus;
use serde::Serialize;

use crate::pool::NodeSnapshot;

/// Requests of a model in the window before a node never chosen for it is reported.
pub const NEVER_CHOSEN_MIN_REQUESTS: u64 = 10;
/// Requests of a node in the window before its error rate is judged.
pub const ERROR_RATE_MIN_REQUESTS: u64 = 5;
/// Share of failed requests from which a node's error rate is reported (warning; critical from
/// twice as much).
pub const HIGH_ERROR_RATE: f64 = 0.2;

/// One node as `/dashboard/api/health` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeHealth {
    /// The node.
    pub node_id: String,
    /// Health checks pass and the circuit breaker is closed.
    pub healthy: bool,
    /// Last observed status (`INFERENCE`, `POC`, `STOPPED`, ...).
    pub status: String,
    /// Share of passed health checks, recent ones weighing most.
    pub availability: f64,
    /// Share of failed requests: the window's traces when the node had any, else the pool's
    /// recent rate.
    pub error_rate: f64,
    /// Requests routed to the node in the window (completed and failed).
    pub requests: u64,
    /// Whether it takes requests now.
    pub routable: bool,
}

/// How urgent a [`Recommendation`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Needs attention now: requests fail or cannot be served.
    Critical,
    /// Degrades service.
    Warning,
    /// Worth knowing.
    Info,
}

/// Something the operator could act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// What was found: `node_unhealthy`, `no_node_for_model`, `high_error_rate`,
    /// `model_cold_everywhere`, `node_never_chosen`, `traces_dropped` or `traces_off`.
    pub kind: &'static str,
    /// How urgent.
    pub severity: Severity,
    /// What was found and what to do, in words.
    pub message: String,
    /// The model concerned, if any.
    pub model: Option<String>,
    /// The node concerned, if any.
    pub node_id: Option<String>,
}

fn rec(
    kind: &'static str,
    severity: Severity,
    message: String,
    model: Option<&str>,
    node_id: Option<&str>,
) -> Recommendation {
    Recommendation {
        kind,
        severity,
        message,
        model: model.map(str::to_owned),
        node_id: node_id.map(str::to_owned),
    }
}

/// Whether a node reports what is loaded in its engine's memory (so "not loaded" means cold).
fn reports_thermal_state(n: &NodeSnapshot) -> bool {
    !n.view.loaded.is_empty() || n.view.memory_total_mb.is_some()
}

/// The fleet's health: every node of `nodes` with its figures, and the recommendations,
/// most severe first. `perf` holds the window's traces per node and model; `dropped` is the
/// count of dropped traces; `traces_on` whether traces are recorded at all.
pub fn assess(
    nodes: &[NodeSnapshot],
    perf: &[PerformanceRow],
    dropped: u64,
    traces_on: bool,
) -> (Vec<NodeHealth>, Vec<Recommendation>) {
    let mut per_node: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut per_model: BTreeMap<&str, u64> = BTreeMap::new();
    let mut chosen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for row in perf {
        let e = per_node.entry(row.node_id.as_str()).or_default();
        e.0 += row.count + row.errors;
        e.1 += row.errors;
        *per_model.entry(row.model.as_str()).or_default() += row.count + row.errors;
        chosen.insert((row.node_id.as_str(), row.model.as_str()));
    }
    let mut recs = Vec::new();
    let mut health = Vec::with_capacity(nodes.len());
    for n in nodes {
        let v = &n.view;
        let id: &str = &v.id;
        let (requests, errors) = per_node.get(id).copied().unwrap_or_default();
        let error_rate = if requests > 0 {
            errors as f64 / requests as f64
        } else {
            f64::from(v.error_rate)
        };
        let routable = v.routable();
        health.push(NodeHealth {
            node_id: id.to_owned(),
            healthy: v.healthy,
            status: v.status.as_str().to_owned(),
            availability: f64::from(v.availability),
            error_rate,
            requests,
            routable,
        });
        if v.admitted && v.status == NodeStatus::Inference && !v.healthy {
            let why = if n.breaker_open {
                "its circuit breaker is open after repeated failures"
            } else {
                "its health checks fail"
            };
            recs.push(rec(
                "node_unhealthy",
                Severity::Critical,
                format!("node {id} takes no requests: {why}; check its engine and network"),
                None,
                Some(id),
            ));
        }
        if requests >= ERROR_RATE_MIN_REQUESTS && error_rate >= HIGH_ERROR_RATE {
            let severity = if error_rate >= 2.0 * HIGH_ERROR_RATE {
                Severity::Critical
            } else {
                Severity::Warning
            };
            recs.push(rec(
                "high_error_rate",
                severity,
                format!(
                    "node {id} failed {errors} of its last {requests} requests ({:.0} %); \
                     look at its logs, or disable it until it is fixed",
                    error_rate * 100.0
                ),
                None,
                Some(id),
            ));
        }
        if routable {
            for model in v.models.iter() {
                let traffic = per_model.get(&**model).copied().unwrap_or(0);
                if traffic >= NEVER_CHOSEN_MIN_REQUESTS && !chosen.contains(&(id, &**model)) {
                    recs.push(rec(
                        "node_never_chosen",
                        Severity::Info,
                        format!(
                            "node {id} serves {model} but was never chosen for it: the \
                             {traffic} requests of the window went to other nodes (the policy \
                             always ranks it last); check its load, latency and whether the \
                             model is loaded there"
                        ),
                        Some(model),
                        Some(id),
                    ));
                }
            }
        }
    }
    model_recommendations(nodes, &mut recs);
    if dropped > 0 {
        recs.push(rec(
            "traces_dropped",
            Severity::Warning,
            format!(
                "{dropped} request traces were dropped since start because the trace store \
                 could not keep up; figures undercount; a faster database or a shorter \
                 retention helps"
            ),
            None,
            None,
        ));
    }
    if !traces_on {
        recs.push(rec(
            "traces_off",
            Severity::Info,
            "request traces are off (--traces off): performance and usage figures are empty"
                .to_owned(),
            None,
            None,
        ));
    }
    recs.sort_by_key(|r| r.severity);
    (health, recs)
}

/// Per model: no routable node serves it (critical); or every node that serves it reports its
/// loaded models and none has it loaded (cold everywhere: the next request waits for a load).
fn model_recommendations(nodes: &[NodeSnapshot], recs: &mut Vec<Recommendation>) {
    let mut models: BTreeMap<&str, Vec<&NodeSnapshot>> = BTreeMap::new();
    for n in nodes.iter().filter(|n| n.view.admitted) {
        for m in n.view.models.iter() {
            models.entry(&**m).or_default().push(n);
        }
    }
    for (model, serving) in models {
        let routable: Vec<&&NodeSnapshot> = serving.iter().filter(|n| n.view.routable()).collect();
        if routable.is_empty() {
            recs.push(rec(
                "no_node_for_model",
                Severity::Critical,
                format!(
                    "no node can serve {model} now ({} declare it, none is routable): requests \
                     for it wait, then fail",
                    serving.len()
                ),
                Some(model),
                None,
            ));
            continue;
        }
        let cold = routable.iter().all(|n| reports_thermal_state(n))
            && !routable
                .iter()
                .any(|n| n.view.loaded.iter().any(|l| &*l.name == model));
        if cold {
            recs.push(rec(
                "model_cold_everywhere",
                Severity::Warning,
                format!(
                    "{model} is not loaded on any of its {} routable nodes: the next request \
                     waits for a load; send a warm-up request or keep it loaded (keep_alive)",
                    routable.len()
                ),
                Some(model),
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gonka_core::{LoadedModel, NodeView};

    use super::*;

    fn node(id: &str, models: &[&str], loaded: &[&str]) -> NodeSnapshot {
        NodeSnapshot {
            view: NodeView {
                id: id.into(),
                models: models.iter().map(|m| Arc::<str>::from(*m)).collect(),
                max_concurrent: 4,
                status: NodeStatus::Inference,
                healthy: true,
                admitted: true,
                availability: 1.0,
                loaded: loaded
                    .iter()
                    .map(|m| LoadedModel {
                        name: (*m).into(),
                        context_length: 4096,
                    })
                    .collect(),
                memory_total_mb: Some(80_000),
                ..NodeView::default()
            },
            breaker_open: false,
            health_passed: true,
        }
    }

    fn perf(node: &str, model: &str, count: u64, errors: u64) -> PerformanceRow {
        PerformanceRow {
            node_id: node.into(),
            model: model.into(),
            count,
            errors,
            ..PerformanceRow::default()
        }
    }

    fn kinds(recs: &[Recommendation]) -> Vec<(&str, Option<&str>, Option<&str>)> {
        recs.iter()
            .map(|r| (r.kind, r.model.as_deref(), r.node_id.as_deref()))
            .collect()
    }

    #[test]
    fn a_quiet_healthy_fleet_has_no_recommendation() {
        let nodes = [node("a", &["m"], &["m"]), node("b", &["m"], &[])];
        let (health, recs) = assess(&nodes, &[perf("a", "m", 3, 0)], 0, true);
        assert!(recs.is_empty(), "{recs:?}");
        assert_eq!(health.len(), 2);
        assert_eq!(health[0].requests, 3);
        assert_eq!(health[0].status, "INFERENCE");
    }

    #[test]
    fn each_finding_is_reported_most_severe_first() {
        let mut sick = node("sick", &["m"], &["m"]);
        sick.view.healthy = false;
        sick.breaker_open = true;
        let nodes = [
            node("busy", &["m"], &["m"]),
            node("idle", &["m"], &[]),
            sick,
            node("cold1", &["c"], &[]),
            node("cold2", &["c"], &["m"]),
            node("flaky", &["f"], &["f"]),
        ];
        let perf = [
            perf("busy", "m", 20, 0),
            perf("flaky", "f", 5, 5),
            perf("sick", "m", 0, 1),
        ];
        let (health, recs) = assess(&nodes, &perf, 7, false);
        let flaky = health.iter().find(|h| h.node_id == "flaky").unwrap();
        assert_eq!(flaky.error_rate, 0.5);
        assert_eq!(
            kinds(&recs),
            [
                ("node_unhealthy", None, Some("sick")),
                ("high_error_rate", None, Some("flaky")),
                ("model_cold_everywhere", Some("c"), None),
                ("traces_dropped", None, None),
                ("node_never_chosen", Some("m"), Some("idle")),
                ("traces_off", None, None),
            ]
        );
        assert_eq!(recs[0].severity, Severity::Critical);
        assert!(recs[0].message.contains("circuit breaker"), "{recs:?}");
        assert!(recs[3].message.contains('7'));
    }

    #[test]
    fn a_model_no_node_can_serve_is_critical_and_unknown_thermal_state_is_not_cold() {
        let mut down = node("down", &["x"], &[]);
        down.view.status = NodeStatus::Stopped;
        let mut silent = node("silent", &["s"], &[]);
        silent.view.memory_total_mb = None;
        let (_, recs) = assess(&[down, silent], &[], 0, true);
        assert_eq!(kinds(&recs), [("no_node_for_model", Some("x"), None)]);
    }
}
