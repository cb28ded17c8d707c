//! Deterministic inputs for the benches: scheduler views of a fleet, node JSON, and node configs
//! with unique endpoints.

use std::sync::Arc;

use gonka_core::{LoadedModel, NodeConfig, NodeStatus, NodeView, RequestInfo};

use crate::MODEL;

/// A fleet of `n` busy scheduler views serving [`MODEL`]: loads vary deterministically between
/// 1/16 and 15/16 (no node is idle), every 10th node is unhealthy and every 7th is full, so a
/// policy must skip ineligible nodes and cannot stop early at an idle one. Residency varies too
/// (for the model-aware policy): three of four nodes have the model loaded, with a 8,192 or
/// 32,768-token context, the others have it on disk; free memory varies between 0 and 79 GB
/// of 80.
pub fn views(n: usize) -> Vec<NodeView> {
    let models: Arc<[Arc<str>]> = vec![Arc::<str>::from(MODEL)].into();
    let loaded = |context_length| -> Arc<[LoadedModel]> {
        vec![LoadedModel {
            name: Arc::from(MODEL),
            context_length,
        }]
        .into()
    };
    let (short, long, none) = (
        loaded(8_192),
        loaded(32_768),
        Arc::<[LoadedModel]>::from(vec![]),
    );
    (0..n)
        .map(|i| {
            let max_concurrent = 16;
            let in_flight = if i % 7 == 3 {
                max_concurrent
            } else {
                // Never idle: a policy that stops at the first idle node must still scan.
                1 + u32::try_from((i * 37) % 15).unwrap_or(0)
            };
            NodeView {
                id: Arc::from(format!("node-{i}")),
                models: Arc::clone(&models),
                in_flight,
                max_concurrent,
                status: NodeStatus::Inference,
                healthy: i % 10 != 9,
                admitted: true,
                queue_depth: u32::try_from(i % 5).unwrap_or(0),
                latency_p50_ms: 20.0 + (i % 13) as f32,
                latency_p95_ms: 60.0 + (i % 17) as f32,
                latency_p75_ms: 40.0 + (i % 15) as f32,
                error_rate: (i % 11) as f32 / 100.0,
                availability: 1.0 - (i % 3) as f32 / 100.0,
                loaded: match i % 4 {
                    0 => Arc::clone(&none),
                    1 => Arc::clone(&short),
                    _ => Arc::clone(&long),
                },
                disk_models: Arc::clone(&models),
                memory_total_mb: Some(81_920),
                memory_free_mb: Some(1_000 * (1 + (i as u64 * 13) % 79)),
                ..NodeView::default()
            }
        })
        .collect()
}

/// The request the scheduler benches route.
/// It estimates 10,000 prompt tokens, more than the 8,192-token context some nodes have loaded.
pub fn request() -> RequestInfo {
    RequestInfo {
        prompt_tokens: 10_000,
        ..RequestInfo::for_model(MODEL)
    }
}

/// The naive baseline a policy is compared with: copy every view, keep the eligible ones, and
/// take the least loaded (what a straightforward implementation without care for the hot path
/// does).
pub fn naive_least_loaded(request: &RequestInfo, nodes: &[NodeView]) -> Option<String> {
    let snapshot: Vec<NodeView> = nodes.to_vec();
    let mut eligible: Vec<NodeView> = snapshot
        .into_iter()
        .filter(|v| v.eligible(request))
        .collect();
    eligible.sort_by(|a, b| a.load().total_cmp(&b.load()));
    eligible.first().map(|v| v.id.to_string())
}

/// The JSON of one valid node, as an operator posts it to `/admin/v1/nodes`.
pub fn node_json() -> serde_json::Value {
    serde_json::json!({
        "id": "node-1",
        "host": "http://10.0.0.21",
        "inference_port": 5050,
        "poc_port": 8080,
        "max_concurrent": 500,
        "models": {MODEL: {"args": ["--tensor-parallel-size", "4", "--max-model-len", "32768"]}},
        "hardware": [{"type": "NVIDIA H100 80GB", "count": 4}]
    })
}

/// `n` valid node configs whose ids and hosts start with `prefix`, each with its own host, so a
/// batch of them has no endpoint conflict with itself or with another prefix's batch.
pub fn configs(prefix: &str, n: usize) -> Vec<NodeConfig> {
    (0..n)
        .map(|i| {
            NodeConfig::new(format!("{prefix}-{i}"), MODEL)
                .at(format!("{prefix}-{i}.bench.internal"), 5050, 8080)
                .max_concurrent(64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_mix_eligible_and_ineligible_nodes() {
        let v = views(100);
        let req = request();
        let eligible = v.iter().filter(|n| n.eligible(&req)).count();
        assert!(eligible > 50 && eligible < 100, "eligible: {eligible}");
    }

    #[test]
    fn naive_baseline_picks_an_eligible_least_loaded_node() {
        let v = views(1000);
        let req = request();
        let id = naive_least_loaded(&req, &v).unwrap();
        let chosen = v.iter().find(|n| *n.id == *id).unwrap();
        assert!(chosen.eligible(&req));
        assert!(v
            .iter()
            .filter(|n| n.eligible(&req))
            .all(|n| n.load() >= chosen.load()));
    }

    #[test]
    fn node_json_is_valid() {
        let g = gonka_core::GovernanceModels::default();
        assert!(gonka_core::validate(&node_json(), &g).is_ok());
    }

    #[test]
    fn configs_form_a_conflict_free_batch() {
        let items: Vec<serde_json::Value> = configs("a", 50)
            .into_iter()
            .map(|c| serde_json::to_value(c).unwrap())
            .collect();
        let (ok, failed) =
            gonka_core::validate_batch(&serde_json::Value::Array(items), &Default::default())
                .unwrap();
        assert_eq!((ok.len(), failed.len()), (50, 0));
    }
}
