//! Fuzz target: arbitrary bytes → JSON → `gonka_core::validate` and `validate_batch`.
//!
//! Run with `cargo fuzz run node_config` (nightly). Properties checked on every input: neither
//! function panics; a rejection always lists at least one problem; an accepted node re-validates
//! to itself after a JSON round trip; a batch accounts for every element exactly once.
#![no_main]

use gonka_core::{validate, validate_batch, GovernanceModels};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let governance = GovernanceModels::default();
    match validate(&value, &governance) {
        Ok(config) => {
            let again = serde_json::to_value(&config).map(|v| validate(&v, &governance));
            assert!(
                matches!(again, Ok(Ok(ref c)) if *c == config),
                "accepted node does not round-trip: {config:?}"
            );
        }
        Err(problems) => assert!(!problems.is_empty(), "rejection without a problem"),
    }
    match validate_batch(&value, &governance) {
        Ok((valid, errors)) => {
            let len = value.as_array().map_or(0, Vec::len);
            assert_eq!(valid.len() + errors.len(), len, "every element accounted for");
            let mut seen: Vec<usize> = valid
                .iter()
                .map(|(i, _)| *i)
                .chain(errors.iter().map(|e| e.index))
                .collect();
            seen.sort_unstable();
            assert!(seen.iter().copied().eq(0..len), "indexes must cover the batch once");
        }
        Err(problem) => assert!(!problem.message.is_empty()),
    }
});
