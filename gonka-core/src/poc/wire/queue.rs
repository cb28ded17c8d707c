//! JSON of queued PoC v2 `/generate` jobs: the job's result (the `wait: true` answer and
//! `GET /api/v1/inference/pow/generate/{port}:{id}`), and helpers on the `queued` answer and the
//! `{url}/validated` callback. Field names and JSON types as upstream's engine writes them
//! (gonka-ai/vllm `vllm/poc/routes.py`, `generate_queue.py`) and its network node decodes them
//! (`decentralized-api/mlnodeclient/poc_v2.go`, `ValidatedResultV2`).

use serde::{Deserialize, Serialize};

use super::{Encoding, GenerateQueued, ValidatedPayload};
use crate::poc::compute::Artifact;
use crate::poc::Nonce;

impl GenerateQueued {
    /// The `queued` answer for job `request_id` (`{port}:{id}`) of `queued_count` nonces.
    pub fn new(request_id: impl Into<String>, queued_count: usize) -> Self {
        Self {
            status: "queued".into(),
            request_id: request_id.into(),
            queued_count,
        }
    }
}

/// Where a `/generate` job is (upstream's `GenerateResult.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for the worker.
    Queued,
    /// Being computed.
    Running,
    /// Done; the result holds the artifacts or the verdict.
    Completed,
    /// The computation failed; `error` says why.
    Failed,
    /// Dropped by `/pow/stop` before it completed.
    Cancelled,
}

/// The verdict of a validation job: the fields upstream's `run_validation` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationOutcome {
    /// Nonces judged (upstream: the request's nonce count).
    pub n_total: usize,
    /// Nonces whose received vector is farther than `dist_threshold` from the recomputed one.
    pub n_mismatch: usize,
    /// Those nonces.
    pub mismatch_nonces: Vec<Nonce>,
    /// One-sided binomial p-value of `n_mismatch` among `n_total` under `p_mismatch`.
    pub p_value: f64,
    /// `p_value` is below the fraud threshold.
    pub fraud_detected: bool,
}

/// The artifacts of a generation job (no `validation` in the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedOutcome {
    /// One artifact per requested nonce, in request order.
    pub artifacts: Vec<Artifact>,
    /// Vector encoding.
    pub encoding: Encoding,
}

/// What a completed job produced: the verdict (validation) or the artifacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobOutcome {
    /// A validation job's verdict.
    Validated(ValidationOutcome),
    /// A generation job's artifacts.
    Generated(GeneratedOutcome),
}

/// A job's result: the `wait: true` answer of `/generate` and the answer of
/// `GET /api/v1/inference/pow/generate/{port}:{id}`. `{status, request_id}`, plus the outcome's
/// fields when `completed`, plus `error` when `failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateResult {
    /// Where the job is.
    pub status: JobStatus,
    /// The id asked for (`{port}:{id}`; a `wait: true` answer carries a fresh id of its own).
    pub request_id: String,
    /// The outcome, present when `status` is `completed`.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<JobOutcome>,
    /// Why the job failed, present when `status` is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ValidatedPayload {
    /// The weight upstream's network node votes for the prover (`ToValidatedWeight`): `-1` when
    /// `fraud_detected` or `n_total` is 0, else `n_total`.
    pub fn validated_weight(&self) -> i64 {
        if self.fraud_detected || self.n_total == 0 {
            -1
        } else {
            i64::try_from(self.n_total).unwrap_or(i64::MAX)
        }
    }

    /// The verdict part of the payload.
    pub fn outcome(&self) -> ValidationOutcome {
        ValidationOutcome {
            n_total: self.n_total,
            n_mismatch: self.n_mismatch,
            mismatch_nonces: self.mismatch_nonces.clone(),
            p_value: self.p_value,
            fraud_detected: self.fraud_detected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_serialise_flat_like_upstream() {
        let done = GenerateResult {
            status: JobStatus::Completed,
            request_id: "0:ab".into(),
            outcome: Some(JobOutcome::Validated(ValidationOutcome {
                n_total: 3,
                n_mismatch: 1,
                mismatch_nonces: vec![7],
                p_value: 0.5,
                fraud_detected: false,
            })),
            error: None,
        };
        let v = serde_json::to_value(&done).unwrap();
        assert_eq!(
            v,
            json!({"status": "completed", "request_id": "0:ab", "n_total": 3, "n_mismatch": 1,
                   "mismatch_nonces": [7], "p_value": 0.5, "fraud_detected": false})
        );
        assert_eq!(serde_json::from_value::<GenerateResult>(v).unwrap(), done);

        let queued: GenerateResult =
            serde_json::from_value(json!({"status": "queued", "request_id": "0:ab"})).unwrap();
        assert_eq!((queued.status, queued.outcome), (JobStatus::Queued, None));
        let failed = GenerateResult {
            status: JobStatus::Failed,
            request_id: "0:ab".into(),
            outcome: None,
            error: Some("boom".into()),
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"status": "failed", "request_id": "0:ab", "error": "boom"})
        );
        let generated: GenerateResult = serde_json::from_value(json!({
            "status": "completed", "request_id": "x",
            "artifacts": [{"nonce": 1, "vector_b64": "AA=="}],
            "encoding": {"dtype": "f16", "k_dim": 12, "endian": "le"}}))
        .unwrap();
        assert!(
            matches!(generated.outcome, Some(JobOutcome::Generated(g)) if g.artifacts.len() == 1)
        );
    }

    #[test]
    fn validated_weight_is_go_s() {
        let mut p: ValidatedPayload = serde_json::from_value(json!({
            "block_hash": "h", "block_height": 5, "public_key": "k", "node_id": 0,
            "n_total": 3, "n_mismatch": 0, "mismatch_nonces": [], "p_value": 1.0,
            "fraud_detected": false}))
        .unwrap();
        assert_eq!(
            p.request_id, "",
            "request_id is optional like Go's omitempty"
        );
        assert_eq!(p.validated_weight(), 3);
        p.fraud_detected = true;
        assert_eq!(p.validated_weight(), -1);
        p.fraud_detected = false;
        p.n_total = 0;
        assert_eq!(p.validated_weight(), -1);
        assert!(serde_json::from_value::<ValidatedPayload>(json!({"n_total": "3"})).is_err());
    }
}
