//! Fuzz target: arbitrary bytes → a PoC callback body (`GeneratedPayload`, what ML nodes POST to
//! the gateway's `/v2/poc-batches/{model}/generated`) and the artifact vector decoding the
//! receiver applies (`decode_b64`, `decode_vector_bytes`), plus an `InclusionProof` body.
//!
//! Properties: nothing panics; an accepted payload survives a JSON round trip unchanged; a decoded
//! vector re-encodes to the same bytes' length; base64 that decodes re-encodes to an equal decode.
#![no_main]

use gonka_core::poc::encoding::{decode_b64, decode_vector_bytes, encode_b64, to_f16_le_bytes};
use gonka_core::poc::mmr::InclusionProof;
use gonka_core::poc::wire::GeneratedPayload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(payload) = serde_json::from_slice::<GeneratedPayload>(data) {
        let json = serde_json::to_vec(&payload).expect("a payload serializes");
        let again: GeneratedPayload = serde_json::from_slice(&json).expect("round trip");
        assert_eq!(again, payload);
        for artifact in &payload.artifacts {
            if let Ok(bytes) = decode_b64(&artifact.vector_b64) {
                assert_eq!(decode_b64(&encode_b64(&bytes)).ok(), Some(bytes.clone()));
                if let Ok(vector) = decode_vector_bytes(&bytes) {
                    assert_eq!(to_f16_le_bytes(&vector).len(), bytes.len());
                }
            }
        }
    }
    if let Ok(proof) = serde_json::from_slice::<InclusionProof>(data) {
        // Verifying against an arbitrary commitment must reject or accept, never panic.
        let _ = proof.verify(&[0u8; 32], proof.leaf_index.saturating_add(1));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = decode_b64(text) {
            let _ = decode_vector_bytes(&bytes);
        }
    }
});
