//! The [`PoCVerifier`] conformance suite.
//!
//! A verifier is checked against a *reference* [`HiddenStateModel`] that computes the same
//! hidden states as the model the verifier runs: the suite computes honest artifacts with the
//! reference (the prover's side) and asks the verifier to judge them and tampered copies.

use crate::poc::compute::{Artifact, HiddenStateModel, PocRound, RoundParams};
use crate::poc::encoding::{decode_vector_b64, encode_vector_b64};
use crate::poc::params::ValidationParams;
use crate::poc::Nonce;
use crate::verifier::{Decision, PoCVerifier, VerificationRequest};
use crate::Error;

/// What the suite needs besides the verifier: the model name the verifier serves and a
/// reference model producing the same hidden states as the verifier's own.
#[derive(Clone, Copy)]
pub struct VerifierFixture<'a> {
    /// The model name the verifier answers for (requests for another name must be refused).
    pub model_name: &'a str,
    /// A model computing the same hidden states as the verifier's (the honest prover).
    pub reference: &'a (dyn HiddenStateModel + Sync),
}

impl std::fmt::Debug for VerifierFixture<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierFixture")
            .field("model_name", &self.model_name)
            .finish_non_exhaustive()
    }
}

/// The nonces the suite's honest prover computes.
const NONCES: std::ops::Range<Nonce> = 1..17;

impl VerifierFixture<'_> {
    /// A request for the fixture's model with honest artifacts for [`NONCES`] (short sequences
    /// keep real models fast).
    fn honest_request(&self) -> VerificationRequest {
        let round = RoundParams {
            seq_len: 4,
            ..RoundParams::new("00C0FFEE", "02ab")
        };
        let prover = PocRound::for_model(round.clone(), self.reference)
            .expect("the reference model fits the round");
        let nonces: Vec<Nonce> = NONCES.collect();
        let artifacts = prover
            .compute_artifacts(self.reference, &nonces)
            .expect("the reference model computes the artifacts");
        assert_eq!(
            artifacts.len(),
            nonces.len(),
            "the reference model dropped nonces (NaN): choose a reference without NaN"
        );
        VerificationRequest {
            model: self.model_name.to_owned(),
            round,
            block_height: 7,
            node_id: 1,
            artifacts,
            params: ValidationParams::default(),
        }
    }
}

/// Runs the whole [`PoCVerifier`] contract against `verifier`.
pub async fn verifier_suite(verifier: &dyn PoCVerifier, fixture: VerifierFixture<'_>) {
    verifier_accepts_honest_artifacts(verifier, fixture).await;
    verifier_rejects_tampered_artifacts(verifier, fixture).await;
    verifier_counts_malformed_and_duplicated_artifacts_as_mismatches(verifier, fixture).await;
    verifier_is_deterministic(verifier, fixture).await;
    verifier_is_inconclusive_without_artifacts(verifier, fixture).await;
    verifier_refuses_another_model(verifier, fixture).await;
    verifier_refuses_out_of_range_params(verifier, fixture).await;
}

/// Honest artifacts: every one scored, none a mismatch, `Valid`, vote = the count.
pub async fn verifier_accepts_honest_artifacts(
    verifier: &dyn PoCVerifier,
    fixture: VerifierFixture<'_>,
) {
    let request = fixture.honest_request();
    let v = verifier.verify(&request).await.expect("honest request");
    assert_eq!(v.n_total, request.artifacts.len(), "every artifact scored");
    assert_eq!(v.n_mismatch, 0, "honest artifacts mismatched: {v:?}");
    assert_eq!(v.n_excluded, 0);
    assert!(v.mismatch_nonces.is_empty());
    assert_eq!(v.decision, Decision::Valid);
    assert_eq!(v.vote(), Some(request.artifacts.len() as i64));
}

/// Every vector negated (distance 2 from the truth): all mismatches, named by nonce, `Fraud`.
pub async fn verifier_rejects_tampered_artifacts(
    verifier: &dyn PoCVerifier,
    fixture: VerifierFixture<'_>,
) {
    let mut request = fixture.honest_request();
    for a in &mut request.artifacts {
        let v = decode_vector_b64(&a.vector_b64).expect("own encoding decodes");
        a.vector_b64 = encode_vector_b64(&v.map(|x| -x));
    }
    let v = verifier.verify(&request).await.expect("tampered request");
    assert_eq!(v.n_total, request.artifacts.len());
    assert_eq!(v.n_mismatch, request.artifacts.len(), "{v:?}");
    let nonces: Vec<Nonce> = request.artifacts.iter().map(|a| a.nonce).collect();
    assert_eq!(v.mismatch_nonces, nonces, "mismatches named in order");
    assert_eq!(v.decision, Decision::Fraud);
    assert_eq!(v.vote(), Some(-1));
}

/// Undecodable vectors and repeated nonces are neither errors nor panics: each counts as one
/// mismatch; the honest rest still matches.
pub async fn verifier_counts_malformed_and_duplicated_artifacts_as_mismatches(
    verifier: &dyn PoCVerifier,
    fixture: VerifierFixture<'_>,
) {
    let mut request = fixture.honest_request();
    let honest = request.artifacts.len();
    let first = request.artifacts[0].clone();
    request.artifacts[1].vector_b64 = "not base64!".into();
    request.artifacts[2].vector_b64 = "AAAA".into(); // decodes, but too short
    request.artifacts.push(first.clone()); // the same nonce again
    request.artifacts.push(Artifact {
        nonce: 10_000,
        vector_b64: String::new(),
    });
    let v = verifier.verify(&request).await.expect("malformed request");
    assert_eq!(v.n_total, honest + 2, "{v:?}");
    assert_eq!(v.n_mismatch, 4, "{v:?}");
    for nonce in [
        request.artifacts[1].nonce,
        request.artifacts[2].nonce,
        first.nonce,
        10_000,
    ] {
        assert!(v.mismatch_nonces.contains(&nonce), "nonce {nonce}: {v:?}");
    }
}

/// The verdict is a pure function of the request: the same request twice gives equal verdicts.
pub async fn verifier_is_deterministic(verifier: &dyn PoCVerifier, fixture: VerifierFixture<'_>) {
    let mut request = fixture.honest_request();
    request.artifacts[3].vector_b64 = "garbage".into();
    let a = verifier.verify(&request).await.expect("first");
    let b = verifier.verify(&request).await.expect("second");
    assert_eq!(a, b);
}

/// Nothing to score: no error, `Inconclusive`, no vote.
pub async fn verifier_is_inconclusive_without_artifacts(
    verifier: &dyn PoCVerifier,
    fixture: VerifierFixture<'_>,
) {
    let mut request = fixture.honest_request();
    request.artifacts.clear();
    let v = verifier.verify(&request).await.expect("empty request");
    assert_eq!((v.n_total, v.n_mismatch), (0, 0));
    assert_eq!(v.decision, Decision::Inconclusive);
    assert_eq!(v.vote(), None);
}

/// A request for a model the verifier does not serve is `Error::Invalid`, not a verdict.
pub async fn verifier_refuses_another_model(
    verifier: &dyn PoCVerifier,
    fixture: VerifierFixture<'_>,
) {
    let mut request = fixture.honest_request();
    request.model = format!("{}-but-another", fixture.model_name);
    let got = verifier.verify(&request).await;
    assert!(matches!(got, Err(Error::Invalid(_))), "{got:?}");
}

/// Out-of-range thresholds are `Error::Invalid`.
pub async fn verifier_refuses_out_of_range_params(
    verifier: &dyn PoCVerifier,
    fixture: VerifierFixture<'_>,
) {
    let mut request = fixture.honest_request();
    request.params.fraud_threshold = 0.0;
    let got = verifier.verify(&request).await;
    assert!(matches!(got, Err(Error::Invalid(_))), "{got:?}");
    request.params = ValidationParams {
        sample_size: 0,
        ..ValidationParams::default()
    };
    let got = verifier.verify(&request).await;
    assert!(matches!(got, Err(Error::Invalid(_))), "{got:?}");
}
