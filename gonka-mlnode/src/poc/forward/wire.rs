//! The request bodies of upstream's ML node PoC v2 routes (`pow_v2_routes.py`), read as its
//! pydantic models read them and written back as their `model_dump()`: every field, defaults
//! filled in, unknown top-level fields dropped, unknown `params` fields refused (pydantic's
//! `extra="forbid"`). The engine gets exactly that dump (plus `group_id`/`n_groups` on
//! `init/generate`).

use serde::{Deserialize, Serialize};

fn default_k_dim() -> i64 {
    12
}

fn default_batch_size() -> i64 {
    32
}

/// `params`: `PoCParamsModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Params {
    pub(crate) model: String,
    pub(crate) seq_len: i64,
    #[serde(default = "default_k_dim")]
    pub(crate) k_dim: i64,
}

/// `POST /api/v1/inference/pow/init/generate`: `PoCInitGenerateRequest` (no `group_id` /
/// `n_groups`: the ML node injects them per engine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InitGenerate {
    pub(crate) block_hash: String,
    pub(crate) block_height: i64,
    pub(crate) public_key: String,
    pub(crate) node_id: i64,
    pub(crate) node_count: i64,
    #[serde(default = "default_batch_size")]
    pub(crate) batch_size: i64,
    pub(crate) params: Params,
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) poc_stronger_rng: bool,
}

/// One artifact of `validation`: `ArtifactModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Artifact {
    pub(crate) nonce: i64,
    pub(crate) vector_b64: String,
}

/// `validation`: `ValidationModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Validation {
    pub(crate) artifacts: Vec<Artifact>,
}

fn default_dist_threshold() -> f64 {
    0.02
}

fn default_p_mismatch() -> f64 {
    0.001
}

fn default_fraud_threshold() -> f64 {
    0.01
}

/// `stat_test`: `StatTestModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StatTest {
    #[serde(default = "default_dist_threshold")]
    pub(crate) dist_threshold: f64,
    #[serde(default = "default_p_mismatch")]
    pub(crate) p_mismatch: f64,
    #[serde(default = "default_fraud_threshold")]
    pub(crate) fraud_threshold: f64,
}

/// `POST /api/v1/inference/pow/generate`: `PoCGenerateRequest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Generate {
    pub(crate) block_hash: String,
    pub(crate) block_height: i64,
    pub(crate) public_key: String,
    pub(crate) node_id: i64,
    pub(crate) node_count: i64,
    pub(crate) nonces: Vec<i64>,
    pub(crate) params: Params,
    #[serde(default = "default_batch_size")]
    pub(crate) batch_size: i64,
    #[serde(default)]
    pub(crate) wait: bool,
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) validation: Option<Validation>,
    #[serde(default)]
    pub(crate) stat_test: Option<StatTest>,
    #[serde(default)]
    pub(crate) poc_stronger_rng: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_dump_fills_upstreams_defaults_and_drops_unknown_fields() {
        let body = json!({
            "block_hash": "h", "block_height": 7, "public_key": "pk", "node_id": 0,
            "node_count": 1, "params": {"model": "m", "seq_len": 256}, "extra": 1
        });
        let req: InitGenerate = serde_json::from_value(body).unwrap();
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({
                "block_hash": "h", "block_height": 7, "public_key": "pk", "node_id": 0,
                "node_count": 1, "batch_size": 32,
                "params": {"model": "m", "seq_len": 256, "k_dim": 12},
                "url": null, "poc_stronger_rng": false
            })
        );
    }

    #[test]
    fn unknown_params_fields_and_wrong_types_are_refused() {
        let bad = json!({
            "block_hash": "h", "block_height": 7, "public_key": "pk", "node_id": 0,
            "node_count": 1, "nonces": [1], "params": {"model": "m", "seq_len": 1, "x": 1}
        });
        assert!(serde_json::from_value::<Generate>(bad).is_err());
        let bad = json!({
            "block_hash": "h", "block_height": "seven", "public_key": "pk", "node_id": 0,
            "node_count": 1, "nonces": [1], "params": {"model": "m", "seq_len": 1}
        });
        assert!(serde_json::from_value::<Generate>(bad).is_err());
    }
}
