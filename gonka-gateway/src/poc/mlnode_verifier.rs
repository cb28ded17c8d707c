//! [`MlNodeVerifier`]: the gateway's default [`PoCVerifier`], doing what upstream's network node
//! does (`decentralized-api/poc/validator.go`): it asks one of the validator's *own* ML nodes —
//! enabled, serving the model, in `INFERENCE` or `POC` — to recompute the sampled nonces with the
//! served model (`POST /api/v1/inference/pow/generate` with `nonces`, `validation.artifacts`,
//! `stat_test`, the model's `seq_len`, the prover's block hash, height and public key, and `url`
//! at the gateway's PoC listener). The ML node queues the job and POSTs the verdict to
//! `{url}/validated`, where [`super::callbacks::ValidationCallbacks`] hands it back here.
//!
//! Each attempt waits at most [`MlNodeVerifierSettings::attempt_timeout`] for the callback; an
//! error or a timeout moves on to the next ML node (by node number, the prover's own last), up
//! to [`MlNodeVerifierSettings::max_attempts`]; then the verification fails with an error naming
//! every attempt. An ML node that answers the `/generate` inline with the verdict (no queue) is
//! taken at its word too.
//!
//! Undecodable vectors and repeated nonces are counted as mismatches here and not sent (upstream's
//! network node rejects them before asking an ML node); a model no registered ML node serves is
//! [`Error::Invalid`]. It passes `gonka_core::testing::verifier_suite` over a real `gonka-mlnode`
//! (`tests/poc_mlnode_validation.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gonka_core::poc::encoding::decode_vector_b64;
use gonka_core::poc::params::ValidationParams;
use gonka_core::poc::verdict::{Decision, Verdict};
use gonka_core::poc::wire::{
    GenerateQueued, GenerateRequest, PocModelParams, ValidatedPayload, ValidationArtifacts,
};
use gonka_core::{Error, FieldError, NodeStatus, PoCVerifier, Result, VerificationRequest};

use super::callbacks::{nonce_problem, PendingKey, ValidationCallbacks};
use super::service::path_escape;
use crate::mlnode_client::MlNodeClient;

/// How [`MlNodeVerifier`] waits and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlNodeVerifierSettings {
    /// Longest wait for one ML node: its `/generate` answer plus the `/validated` callback
    /// (default 60 s).
    pub attempt_timeout: Duration,
    /// ML nodes tried per verification, one after another (default 3).
    pub max_attempts: usize,
    /// How long to wait for an eligible ML node to appear before giving up (default 30 s).
    pub node_wait: Duration,
}

impl Default for MlNodeVerifierSettings {
    fn default() -> Self {
        Self {
            attempt_timeout: Duration::from_secs(60),
            max_attempts: 3,
            node_wait: Duration::from_secs(30),
        }
    }
}

/// One verification an ML node answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationCall {
    /// Registry id of the ML node that recomputed.
    pub validator_node: String,
    /// The prover's node number.
    pub prover_node: u32,
    /// Whether the verdict came on the `/validated` callback (else inline).
    pub via_callback: bool,
    /// The job id the ML node answered (`{port}:{id}`), when it queued the job.
    pub request_id: Option<String>,
}

/// The default verifier (see the module docs). Built over the gateway's
/// [`ValidationCallbacks`]; it works once the PoC service bound them (callback URL, registry).
#[derive(Debug)]
pub struct MlNodeVerifier {
    callbacks: Arc<ValidationCallbacks>,
    settings: MlNodeVerifierSettings,
    http: reqwest::Client,
    calls: Mutex<Vec<VerificationCall>>,
}

/// An eligible ML node of the validator.
#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    node_num: u32,
    poc_url: String,
}

impl MlNodeVerifier {
    /// A verifier over `callbacks` with `settings`.
    pub fn new(callbacks: Arc<ValidationCallbacks>, settings: MlNodeVerifierSettings) -> Self {
        Self {
            callbacks,
            settings,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The verifications answered so far (which ML node, for which prover, how).
    pub fn calls(&self) -> Vec<VerificationCall> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The enabled nodes serving `model` in INFERENCE or POC by node number, the prover's own
    /// last (another node recomputes when there is one).
    async fn candidates(&self, model: &str, prover: u32) -> Result<Vec<Candidate>> {
        let binding = self.callbacks.binding().ok_or_else(|| {
            Error::Engine("the ML-node verifier is not bound to a running PoC service".into())
        })?;
        let deadline = tokio::time::Instant::now() + self.settings.node_wait;
        loop {
            let records = binding.registry.list().await?;
            if !records.iter().any(|r| r.node.serves(model)) {
                return Err(Error::Invalid(vec![FieldError::new(
                    "model",
                    format!("no ML node of this validator serves {model}"),
                )]));
            }
            let mut list: Vec<Candidate> = records
                .into_iter()
                .filter(|r| {
                    r.state.admin_state.enabled
                        && r.node.serves(model)
                        && matches!(
                            r.state.current_status,
                            NodeStatus::Inference | NodeStatus::Poc
                        )
                })
                .filter_map(|r| {
                    Some(Candidate {
                        node_num: u32::try_from(r.node.node_num).ok()?,
                        poc_url: r.node.poc_url(),
                        id: r.node.id,
                    })
                })
                .collect();
            if !list.is_empty() {
                list.sort_by_key(|c| (c.node_num == prover, c.node_num));
                return Ok(list);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Engine(format!(
                    "no enabled ML node of this validator serves {model} in INFERENCE or POC state"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One attempt on `node`: the verdict's payload and, when it came by callback, the job id.
    async fn attempt(
        &self,
        node: &Candidate,
        request: &VerificationRequest,
        body: &GenerateRequest,
        key: PendingKey,
    ) -> std::result::Result<(ValidatedPayload, Option<String>), String> {
        let mut pending = self
            .callbacks
            .register(key, request.artifacts.iter().map(|a| a.nonce))?;
        let client = MlNodeClient::with_http_client(&node.poc_url, self.http.clone())
            .with_timeout(self.settings.attempt_timeout);
        let work = async {
            let answer = client.pow_generate(body).await.map_err(|e| e.to_string())?;
            if answer.get("fraud_detected").is_some() {
                // Answered inline (an ML node without a validation queue).
                let payload: ValidatedPayload = serde_json::from_value(answer)
                    .map_err(|e| format!("inline verdict unreadable: {e}"))?;
                let asked = request.artifacts.iter().map(|a| a.nonce).collect();
                if let Some(problem) = nonce_problem(&asked, &payload) {
                    return Err(format!("inline verdict: {problem}"));
                }
                return Ok((payload, None));
            }
            let queued: GenerateQueued = serde_json::from_value(answer.clone())
                .map_err(|e| format!("unexpected /generate answer {answer}: {e}"))?;
            if queued.status != "queued" {
                return Err(format!("unexpected /generate answer {answer}"));
            }
            let request_id = queued.request_id.clone();
            pending.set_queued(queued);
            pending
                .wait()
                .await
                .map(|p| (p, Some(request_id)))
                .ok_or_else(|| "the pending verification was dropped".to_owned())
        };
        match tokio::time::timeout(self.settings.attempt_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "no /validated callback within {:?}",
                self.settings.attempt_timeout
            )),
        }
    }
}

/// The verdict of a `/validated` payload for `asked` nonces, judged again with `params`.
pub fn verdict_of(payload: &ValidatedPayload, asked: usize, params: &ValidationParams) -> Verdict {
    let judged = Verdict::from_counts(
        params,
        payload.n_total,
        payload.n_mismatch,
        asked.saturating_sub(payload.n_total),
        payload.mismatch_nonces.clone(),
    );
    // The ML node's own conclusion stands when it saw fraud; its counts decide otherwise.
    if payload.fraud_detected && judged.decision != Decision::Fraud {
        return Verdict {
            decision: Decision::Fraud,
            p_value: payload.p_value,
            ..judged
        };
    }
    judged
}

#[async_trait]
impl PoCVerifier for MlNodeVerifier {
    async fn verify(&self, request: &VerificationRequest) -> Result<Verdict> {
        request.params.check()?;
        // Undecodable vectors and repeated nonces are mismatches here (upstream's network node
        // rejects them before asking an ML node); the rest goes to the ML node.
        let mut seen = std::collections::BTreeSet::new();
        let mut extra = Vec::new();
        let mut sent = Vec::with_capacity(request.artifacts.len());
        for a in &request.artifacts {
            if decode_vector_b64(&a.vector_b64).is_ok() && seen.insert(a.nonce) {
                sent.push(a.clone());
            } else {
                extra.push(Some(a.nonce));
            }
        }
        if sent.is_empty() {
            return Ok(Verdict::from_counts(&request.params, 0, 0, 0, Vec::new())
                .with_extra_mismatches(&request.params, &extra));
        }
        let request = &VerificationRequest {
            artifacts: sent,
            ..request.clone()
        };
        let base = self
            .callbacks
            .binding()
            .map(|b| b.base.clone())
            .unwrap_or_default();
        let nodes = self.candidates(&request.model, request.node_id).await?;
        let body = GenerateRequest {
            block_hash: request.round.block_hash.clone(),
            block_height: request.block_height,
            public_key: request.round.public_key.clone(),
            node_id: request.node_id,
            node_count: u32::try_from(nodes.len()).unwrap_or(u32::MAX),
            nonces: request.artifacts.iter().map(|a| a.nonce).collect(),
            params: PocModelParams {
                model: request.model.clone(),
                seq_len: request.round.seq_len,
                k_dim: gonka_core::poc::encoding::K_DIM,
            },
            batch_size: gonka_core::poc::nonce::DEFAULT_BATCH_SIZE,
            // Queued, the verdict on `/validated` (upstream's validator never waits).
            wait: false,
            url: Some(format!(
                "{}/v2/poc-batches/{}",
                base.trim_end_matches('/'),
                path_escape(&path_escape(&request.model))
            )),
            validation: Some(ValidationArtifacts {
                artifacts: request.artifacts.clone(),
            }),
            stat_test: Some(request.params),
            poc_stronger_rng: request.round.stronger_rng,
        };
        let key = PendingKey {
            model: request.model.clone(),
            block_hash: body.block_hash.clone(),
            block_height: body.block_height,
            public_key: body.public_key.clone(),
            node_id: body.node_id,
        };
        let mut failures = Vec::new();
        for node in nodes.iter().cycle().take(self.settings.max_attempts.max(1)) {
            match self.attempt(node, request, &body, key.clone()).await {
                Ok((payload, request_id)) => {
                    let via_callback = request_id.is_some();
                    tracing::debug!(validator = %node.id, prover = request.node_id, via_callback, n_total = payload.n_total, n_mismatch = payload.n_mismatch, fraud = payload.fraud_detected, "PoC verdict from ML node");
                    self.calls
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(VerificationCall {
                            validator_node: node.id.clone(),
                            prover_node: request.node_id,
                            via_callback,
                            request_id,
                        });
                    let verdict = verdict_of(&payload, request.artifacts.len(), &request.params);
                    if extra.is_empty() {
                        return Ok(verdict);
                    }
                    let mut with_extra = verdict.with_extra_mismatches(&request.params, &extra);
                    if verdict.decision == Decision::Fraud {
                        with_extra.decision = Decision::Fraud;
                    }
                    return Ok(with_extra);
                }
                Err(e) => {
                    tracing::warn!(validator = %node.id, prover = request.node_id, error = %e, "PoC validation attempt failed; trying the next ML node");
                    failures.push(format!("{}: {e}", node.id));
                }
            }
        }
        Err(Error::Engine(format!(
            "no ML node could validate node {} of {}: {}",
            request.node_id,
            request.round.public_key,
            failures.join("; ")
        )))
    }
}

/// Which [`PoCVerifier`] a gateway validates with (`--poc-verifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierKind {
    /// [`MlNodeVerifier`]: the gateway's own ML nodes recompute (upstream's way; production).
    MlNode,
    /// Local CPU recomputation with the tiny random model ([`gonka_core::poc::ComputeVerifier`];
    /// devnet and tests, where the ML nodes compute on the same backend).
    Local,
}

impl std::str::FromStr for VerifierKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "mlnode" => Ok(Self::MlNode),
            "local" => Ok(Self::Local),
            other => Err(format!(
                "unknown PoC verifier {other:?}: use mlnode or local"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(
        n_total: usize,
        mismatch: Vec<gonka_core::poc::Nonce>,
        fraud: bool,
    ) -> ValidatedPayload {
        ValidatedPayload {
            request_id: String::new(),
            block_hash: "h".into(),
            block_height: 1,
            public_key: "k".into(),
            node_id: 0,
            n_total,
            n_mismatch: mismatch.len(),
            mismatch_nonces: mismatch,
            p_value: if fraud { 0.0 } else { 1.0 },
            fraud_detected: fraud,
        }
    }

    #[test]
    fn verdicts_follow_the_counts_and_never_drop_the_ml_nodes_fraud() {
        let params = ValidationParams::default();
        let ok = verdict_of(&payload(200, vec![], false), 200, &params);
        assert_eq!(ok.decision, Decision::Valid);
        let counted = verdict_of(&payload(200, (0..20).collect(), false), 200, &params);
        assert_eq!(counted.decision, Decision::Fraud);
        let said = verdict_of(&payload(200, vec![1], true), 200, &params);
        assert_eq!(said.decision, Decision::Fraud);
        let nothing = verdict_of(&payload(0, vec![], false), 5, &params);
        assert_eq!(nothing.decision, Decision::Inconclusive);
        assert_eq!(nothing.n_excluded, 5);
    }

    #[test]
    fn verifier_names_parse() {
        assert_eq!("mlnode".parse(), Ok(VerifierKind::MlNode));
        assert_eq!("local".parse(), Ok(VerifierKind::Local));
        assert!("gpu"
            .parse::<VerifierKind>()
            .unwrap_err()
            .contains("mlnode or local"));
    }
}
