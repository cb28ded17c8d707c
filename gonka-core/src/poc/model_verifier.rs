//! [`ModelVerifier`]: the [`PoCVerifier`] of one locally loaded model.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::compute::{HiddenStateModel, PocRound};
use super::validate::validate_artifacts;
use crate::verifier::{PoCVerifier, Verdict, VerificationRequest};
use crate::{Error, FieldError, Result};

/// Verifies requests for one model by recomputing on a [`HiddenStateModel`]. The computation
/// runs on tokio's blocking pool, so `verify` must be called inside a tokio runtime.
pub struct ModelVerifier<M> {
    model_name: String,
    model: Arc<M>,
}

impl<M> ModelVerifier<M> {
    /// A verifier answering for `model_name` with `model`.
    pub fn new(model_name: impl Into<String>, model: Arc<M>) -> Self {
        Self {
            model_name: model_name.into(),
            model,
        }
    }

    /// The model name this verifier serves.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }
}

impl<M> fmt::Debug for ModelVerifier<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelVerifier")
            .field("model_name", &self.model_name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<M> PoCVerifier for ModelVerifier<M>
where
    M: HiddenStateModel + Send + Sync + 'static,
{
    async fn verify(&self, request: &VerificationRequest) -> Result<Verdict> {
        if request.model != self.model_name {
            return Err(Error::Invalid(vec![FieldError::new(
                "model",
                format!(
                    "model {:?} is not served by this verifier (serves {:?})",
                    request.model, self.model_name
                ),
            )]));
        }
        request.params.check()?;
        let model = Arc::clone(&self.model);
        let request = request.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            let round = PocRound::for_model(request.round, &*model)?;
            validate_artifacts(&*model, &round, &request.params, &request.artifacts)
        })
        .await
        .map_err(|e| Error::Engine(format!("verification task failed: {e}")))??;
        Ok(verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poc::compute::RoundParams;
    use crate::poc::params::ValidationParams;
    use crate::poc::tiny_model::TinyModel;
    use crate::verifier::Decision;

    fn request(verifier_model: &TinyModel) -> VerificationRequest {
        let round = RoundParams {
            seq_len: 3,
            ..RoundParams::new("AB12", "02ff")
        };
        let r = PocRound::for_model(round.clone(), verifier_model).unwrap();
        let artifacts = r.compute_artifacts(verifier_model, &[1, 2, 3, 4]).unwrap();
        VerificationRequest {
            model: "tiny".into(),
            round,
            artifacts,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn honest_artifacts_verify_through_the_dyn_trait() {
        let verifier: Box<dyn PoCVerifier> = Box::new(ModelVerifier::new(
            "tiny",
            Arc::new(TinyModel::new(16, 2, 3)),
        ));
        let v = verifier
            .verify(&request(&TinyModel::new(16, 2, 3)))
            .await
            .unwrap();
        assert_eq!(
            (v.n_total, v.n_mismatch, v.decision),
            (4, 0, Decision::Valid)
        );
    }

    #[tokio::test]
    async fn artifacts_from_other_weights_are_fraud() {
        // The prover ran a different (cheaper) model: every vector mismatches.
        let verifier = ModelVerifier::new("tiny", Arc::new(TinyModel::new(16, 2, 3)));
        let v = verifier
            .verify(&request(&TinyModel::new(16, 2, 4)))
            .await
            .unwrap();
        assert_eq!(v.n_mismatch, 4);
        assert_eq!(v.decision, Decision::Fraud);
    }

    #[tokio::test]
    async fn wrong_model_or_bad_params_are_invalid_requests() {
        let verifier = ModelVerifier::new("tiny", Arc::new(TinyModel::new(16, 2, 3)));
        let mut req = request(&TinyModel::new(16, 2, 3));
        req.model = "other".into();
        let err = verifier.verify(&req).await.unwrap_err();
        assert!(err.to_string().contains("not served"), "{err}");
        req.model = "tiny".into();
        req.params = ValidationParams {
            fraud_threshold: 0.0,
            ..Default::default()
        };
        let err = verifier.verify(&req).await.unwrap_err();
        assert!(err.to_string().contains("fraud_threshold"), "{err}");
    }
}

#[cfg(all(test, feature = "testing"))]
mod conformance {
    use super::*;
    use crate::poc::tiny_model::{ReflectOnlyModel, TinyModel};
    use crate::testing::{verifier_suite, VerifierFixture};

    #[tokio::test]
    async fn model_verifier_with_the_tiny_model_conforms() {
        let verifier = ModelVerifier::new("tiny", Arc::new(TinyModel::new(16, 2, 3)));
        let reference = TinyModel::new(16, 2, 3);
        let fixture = VerifierFixture {
            model_name: "tiny",
            reference: &reference,
        };
        verifier_suite(&verifier, fixture).await;
    }

    #[tokio::test]
    async fn model_verifier_with_the_reflect_only_model_conforms() {
        let model = ReflectOnlyModel {
            hidden: 24,
            layers: 3,
        };
        let verifier = ModelVerifier::new("reflect", Arc::new(model));
        let fixture = VerifierFixture {
            model_name: "reflect",
            reference: &model,
        };
        verifier_suite(&verifier, fixture).await;
    }
}
