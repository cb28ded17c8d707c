//! Fuzz target: admin batch bodies built from the input, structure-aware.
//!
//! Each element is a valid seed node whose fields the input overwrites with odd values (strings,
//! numbers, nulls, huge or negative ports, nested junk), so validation gets past the JSON layer
//! and into the field rules. Properties of `gonka_core::validate_batch`: no panic; every element
//! is either valid or reported once, at its index; a valid element also passes `validate` alone.
#![no_main]

use gonka_core::{validate, validate_batch, GovernanceModels};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

const FIELDS: [&str; 9] = [
    "id", "host", "inference_port", "poc_port", "models", "max_concurrent", "hardware",
    "inference_segment", "poc_segment",
];

fn odd_value(selector: u8, text: &str, n: i64) -> Value {
    match selector % 8 {
        0 => json!(text),
        1 => json!(n),
        2 => Value::Null,
        3 => json!(-n),
        4 => json!([text, n]),
        5 => json!({ text: { "args": [text] } }),
        6 => json!(f64::from(n as i32) / 3.0),
        _ => json!(u64::MAX),
    }
}

fn seed(i: usize) -> Value {
    json!({
        "id": format!("node{i}"), "host": format!("10.0.0.{}", i % 250), "inference_port": 5050,
        "poc_port": 8080, "models": { "Qwen/Qwen2.5-7B-Instruct": { "args": [] } },
        "max_concurrent": 4,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut batch = Vec::new();
    for (i, chunk) in data.chunks(6).take(64).enumerate() {
        let mut node = seed(i);
        if let [field, selector, rest @ ..] = chunk {
            let text = String::from_utf8_lossy(rest).into_owned();
            let n = rest.iter().fold(0i64, |a, b| a.wrapping_mul(257).wrapping_add(i64::from(*b)));
            let name = FIELDS[usize::from(*field) % FIELDS.len()];
            if selector & 0x80 != 0 {
                node.as_object_mut().map(|o| o.remove(name));
            } else {
                node[name] = odd_value(*selector, &text, n);
            }
        }
        batch.push(node);
    }
    let governance = GovernanceModels::default();
    let value = Value::Array(batch);
    let Ok((valid, errors)) = validate_batch(&value, &governance) else {
        return;
    };
    let len = value.as_array().map_or(0, Vec::len);
    assert_eq!(valid.len() + errors.len(), len);
    for (index, config) in &valid {
        let alone = validate(&value[*index], &governance).expect("valid in a batch, valid alone");
        assert_eq!(&alone, config);
    }
    for e in &errors {
        assert!(!e.error.is_empty() && e.index < len, "a rejection names its problem and index");
    }
});
