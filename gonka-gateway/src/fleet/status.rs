//! `GET /fleet/status`: the full topology, every node with what the gateway knows of it, every
//! model with the nodes where it is hot (loaded) and warm (on disk), and the fleet's totals.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Fleet;
use crate::pool::FleetNode;

pub(super) async fn fleet_status(State(fleet): State<Arc<Fleet>>) -> Json<Value> {
    Json(topology(&fleet.pool.fleet(), fleet.pool.queued()))
}

/// Where each model is: hot (loaded) and warm (on disk, not loaded) node ids, by model name.
#[derive(Default)]
struct Placement {
    hot: Vec<String>,
    warm: Vec<String>,
}

/// The `/fleet/status` document of `nodes` with `queued` requests waiting.
pub(super) fn topology(nodes: &[FleetNode], queued: usize) -> Value {
    let mut models: BTreeMap<String, Placement> = BTreeMap::new();
    let mut rows = Vec::with_capacity(nodes.len());
    let mut routable = 0usize;
    for node in nodes {
        let v = &node.snapshot.view;
        if v.routable() {
            routable += 1;
        }
        let loaded = node.loaded();
        for m in node.record.node.models.keys() {
            models.entry(m.clone()).or_default();
        }
        for m in &loaded {
            models
                .entry(m.name.to_string())
                .or_default()
                .hot
                .push(node.record.node.id.clone());
        }
        for m in v.disk_models.iter() {
            if loaded.iter().all(|l| l.name != *m) {
                models
                    .entry(m.to_string())
                    .or_default()
                    .warm
                    .push(node.record.node.id.clone());
            }
        }
        rows.push(json!({
            "id": node.record.node.id,
            "host": node.record.node.host,
            "status": v.status,
            "healthy": v.healthy,
            "routable": v.routable(),
            "admitted": v.admitted,
            "in_flight": v.in_flight,
            "max_concurrent": v.max_concurrent,
            "queue_depth": v.queue_depth,
            "models": node.record.node.models.keys().collect::<Vec<_>>(),
            "loaded": loaded,
            "disk_models": v.disk_models,
            "gpu_type": v.gpu_type,
            "vram_mb": v.vram_mb,
            "memory": {
                "total_mb": v.memory_total_mb,
                "free_mb": v.memory_free_mb,
                "pressure": v.memory_pressure,
            },
            "engine": v.engine,
            "last_heartbeat_ms": node.last_heartbeat_ms,
            "source": node.source,
        }));
    }
    let models: Vec<Value> = models
        .into_iter()
        .map(|(name, p)| json!({"name": name, "hot": p.hot, "warm": p.warm}))
        .collect();
    json!({
        "nodes": rows,
        "models": models,
        "routable_nodes": routable,
        "queued_requests": queued,
    })
}
