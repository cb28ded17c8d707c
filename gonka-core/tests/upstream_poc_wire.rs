//! `gonka_core::poc::wire` decodes upstream's PoC v2 `/generate` bodies and callbacks (the
//! fixtures in `tests/fixtures/upstream/`) and encodes them back with exactly upstream's keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use gonka_core::poc::wire::{
    GenerateQueued, GenerateRequest, GenerateResult, GeneratedPayload, JobOutcome, JobStatus,
    ValidatedPayload,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn load(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/upstream")
        .join(rel);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// Decodes fixture `rel` as `T` and checks that encoding it again gives the same keys.
fn round_trip<T: DeserializeOwned + Serialize>(rel: &str) -> T {
    let fixture = load(rel);
    let decoded: T = serde_json::from_value(fixture.clone())
        .unwrap_or_else(|e| panic!("{rel} does not decode: {e}"));
    let encoded = serde_json::to_value(&decoded).unwrap();
    assert_eq!(
        keys(&encoded),
        keys(&fixture),
        "{rel}: keys after a round trip"
    );
    decoded
}

#[test]
fn validated_callbacks_decode_into_validated_payload() {
    let ok: ValidatedPayload = round_trip("callback/validated.request.json");
    assert_eq!(ok.request_id, "6f1d2c84-93ab-4e0f-b7c2-1a5d9e3f8b60");
    assert_eq!((ok.n_total, ok.validated_weight()), (3, 3));
    let fraud: ValidatedPayload = round_trip("callback/validated.fraud.request.json");
    assert_eq!(fraud.mismatch_nonces, vec![3, 17, 42]);
    assert_eq!(fraud.validated_weight(), -1);
}

#[test]
fn a_queued_generation_callback_carries_its_request_id() {
    let queued: GeneratedPayload = round_trip("callback/generated.from_queue.request.json");
    assert_eq!(
        queued.request_id.as_deref(),
        Some("6f1d2c84-93ab-4e0f-b7c2-1a5d9e3f8b60")
    );
    let round: GeneratedPayload = round_trip("callback/generated.request.json");
    assert_eq!(round.request_id, None);
}

#[test]
fn the_validation_request_and_its_answers_decode() {
    let req: GenerateRequest =
        serde_json::from_value(load("mgmt/pow_generate.validate.request.json")).unwrap();
    assert!(!req.wait, "Go omits wait: false");
    assert_eq!(req.node_count, 3);
    assert_eq!(req.batch_size, 32, "upstream's default batch");
    assert!(req.url.as_deref().unwrap().contains("/v2/poc-batches/"));
    assert_eq!(req.validation.unwrap().artifacts.len(), req.nonces.len());
    assert_eq!(req.stat_test.unwrap().fraud_threshold, 0.05);

    let queued: GenerateQueued = round_trip("mgmt/pow_generate.queued.response.json");
    assert_eq!(queued, GenerateQueued::new(queued.request_id.clone(), 3));
    let waiting: GenerateResult = round_trip("mgmt/pow_generate_result.queued.response.json");
    assert_eq!((waiting.status, waiting.outcome), (JobStatus::Queued, None));
    let done: GenerateResult = round_trip("mgmt/pow_generate_result.validated.response.json");
    assert_eq!(done.status, JobStatus::Completed);
    assert!(matches!(done.outcome, Some(JobOutcome::Validated(v)) if v.n_total == 3));
}
