//! [`ComputeVerifier`]: the [`PoCVerifier`] of any [`PocCompute`] backend, for every model the
//! backend can run. The network node validates with it through `dyn PoCVerifier`.

use std::sync::Arc;

use async_trait::async_trait;

use super::backend::PocCompute;
use crate::verifier::{PoCVerifier, Verdict, VerificationRequest};
use crate::{Error, Result};

/// Verifies a request by preparing its round on a [`PocCompute`] backend (for the request's
/// model) and recomputing its artifacts there ([`super::PreparedRound::validate`]). The
/// backend must be the one the provers computed with. The computation runs on tokio's blocking
/// pool, so `verify` must be called inside a tokio runtime.
#[derive(Debug, Clone)]
pub struct ComputeVerifier {
    compute: Arc<dyn PocCompute>,
}

impl ComputeVerifier {
    /// A verifier recomputing on `compute`.
    pub fn new(compute: Arc<dyn PocCompute>) -> Self {
        Self { compute }
    }

    /// The backend it recomputes on.
    pub fn compute(&self) -> &Arc<dyn PocCompute> {
        &self.compute
    }
}

#[async_trait]
impl PoCVerifier for ComputeVerifier {
    async fn verify(&self, request: &VerificationRequest) -> Result<Verdict> {
        request.params.check()?;
        let compute = Arc::clone(&self.compute);
        let request = request.clone();
        tokio::task::spawn_blocking(move || {
            let prepared = compute.prepare(&request.model, request.round)?;
            Ok(prepared.validate(&request.artifacts, &request.params)?)
        })
        .await
        .map_err(|e| Error::Engine(format!("verification task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poc::compute::RoundParams;
    use crate::poc::params::ValidationParams;
    use crate::poc::TinyModelCompute;
    use crate::verifier::Decision;

    fn request() -> (VerificationRequest, Arc<dyn PocCompute>) {
        let compute: Arc<dyn PocCompute> = Arc::new(TinyModelCompute::default());
        let round = RoundParams {
            block_hash: "block".into(),
            public_key: "key".into(),
            seq_len: 4,
            ..RoundParams::default()
        };
        let prepared = compute.prepare("tiny", round.clone()).unwrap();
        let artifacts = prepared.compute(&(0..40).collect::<Vec<_>>()).unwrap();
        let request = VerificationRequest {
            model: "tiny".into(),
            round,
            artifacts,
            params: ValidationParams::default(),
            ..VerificationRequest::default()
        };
        (request, compute)
    }

    #[tokio::test]
    async fn honest_artifacts_are_valid_and_a_foreign_backend_is_not() {
        let (request, compute) = request();
        let verifier: Box<dyn PoCVerifier> = Box::new(ComputeVerifier::new(compute));
        let verdict = verifier.verify(&request).await.unwrap();
        assert_eq!(verdict.decision, Decision::Valid);
        assert_eq!(verdict.n_mismatch, 0);
        let other = ComputeVerifier::new(Arc::new(TinyModelCompute {
            hidden: 24,
            layers: 3,
        }));
        let verdict = other.verify(&request).await.unwrap();
        assert_ne!(verdict.decision, Decision::Valid);
    }
}

#[cfg(all(test, feature = "testing"))]
mod conformance {
    use super::*;
    use crate::poc::TinyModelCompute;
    use crate::testing::{self, VerifierFixture};

    /// The exported suite, check by check, over the CPU backend; the reference is the model the
    /// backend builds for the suite's block hash. `verifier_refuses_another_model` does not
    /// apply: the tiny backend runs any model name (the gateway asks it for each member's model).
    #[tokio::test]
    async fn compute_verifier_over_the_tiny_backend_conforms() {
        let backend = TinyModelCompute::default();
        let verifier = ComputeVerifier::new(Arc::new(backend));
        let reference = backend.model("00C0FFEE");
        let fixture = VerifierFixture {
            model_name: "tiny",
            reference: &reference,
        };
        testing::verifier_accepts_honest_artifacts(&verifier, fixture).await;
        testing::verifier_rejects_tampered_artifacts(&verifier, fixture).await;
        testing::verifier_counts_malformed_and_duplicated_artifacts_as_mismatches(
            &verifier, fixture,
        )
        .await;
        testing::verifier_is_deterministic(&verifier, fixture).await;
        testing::verifier_is_inconclusive_without_artifacts(&verifier, fixture).await;
        testing::verifier_refuses_out_of_range_params(&verifier, fixture).await;
    }
}
