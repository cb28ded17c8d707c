use proptest::prelude::*;
use serde_json::json;

use super::*;

fn gov() -> GovernanceModels {
    GovernanceModels::default()
}

fn seed_node() -> Value {
    json!({
        "id": "node1",
        "host": "10.0.0.21",
        "inference_port": 5050,
        "poc_port": 8080,
        "max_concurrent": 500,
        "models": {"Qwen/Qwen3-32B-FP8": {"args": []}}
    })
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn seed_000_node_is_valid() {
    let c = validate(&seed_node(), &gov()).unwrap();
    assert_eq!(c.id, "node1");
    assert_eq!(c.inference_port, 5050);
    assert_eq!(c.max_concurrent, 500);
    assert!(c.serves("Qwen/Qwen3-32B-FP8"));
}

#[test]
fn host_with_scheme_is_accepted_as_in_the_seed_put_example() {
    let mut v = seed_node();
    v["host"] = json!("http://10.0.0.21");
    assert!(validate(&v, &gov()).is_ok());
}

#[test]
fn every_problem_is_reported_with_its_field() {
    let v = json!({
        "id": "", "host": "", "inference_port": 0, "poc_port": 70000,
        "max_concurrent": 0, "models": {}, "extra": 1
    });
    let errs = validate(&v, &gov()).unwrap_err();
    let f = fields(&errs);
    for want in [
        "extra",
        "id",
        "host",
        "inference_port",
        "poc_port",
        "max_concurrent",
        "models",
    ] {
        assert!(f.contains(&want), "missing {want} in {errs:?}");
    }
    let msgs: Vec<_> = errs.iter().map(|e| e.message.as_str()).collect();
    assert!(msgs.contains(&"node id is required and cannot be empty"));
    assert!(msgs.contains(&"host is required and cannot be empty"));
    assert!(msgs.contains(&"inference_port must be between 1 and 65535, got 0"));
    assert!(msgs.contains(&"poc_port must be between 1 and 65535, got 70000"));
    assert!(msgs.contains(&"max_concurrent must be greater than 0, got 0"));
    assert!(msgs.contains(&"at least one model must be specified"));
}

#[test]
fn missing_fields_are_named() {
    let errs = validate(&json!({}), &gov()).unwrap_err();
    let f = fields(&errs);
    for want in [
        "id",
        "host",
        "inference_port",
        "poc_port",
        "max_concurrent",
        "models",
    ] {
        assert!(f.contains(&want), "missing {want} in {errs:?}");
    }
}

#[test]
fn wrong_types_name_the_field() {
    let mut v = seed_node();
    v["inference_port"] = json!("5050");
    v["max_concurrent"] = json!(1.5);
    v["models"] = json!({"Qwen/QwQ-32B": {"args": [1]}});
    let errs = validate(&v, &gov()).unwrap_err();
    assert_eq!(
        fields(&errs),
        vec![
            "inference_port",
            "max_concurrent",
            "models.Qwen/QwQ-32B.args"
        ]
    );
}

#[test]
fn model_outside_governance_is_rejected() {
    let mut v = seed_node();
    v["models"] = json!({"meta/Llama-3": {"args": []}});
    let errs = validate(&v, &gov()).unwrap_err();
    assert_eq!(fields(&errs), vec!["models"]);
    assert!(errs[0].message.contains("meta/Llama-3"));
}

#[test]
fn unknown_model_key_is_rejected() {
    let mut v = seed_node();
    v["models"] = json!({"Qwen/QwQ-32B": {"argz": []}});
    let errs = validate(&v, &gov()).unwrap_err();
    assert_eq!(fields(&errs), vec!["models.Qwen/QwQ-32B.argz"]);
}

#[test]
fn node_num_is_accepted_and_ignored() {
    let mut v = seed_node();
    v["node_num"] = json!(42);
    assert_eq!(validate(&v, &gov()).unwrap().node_num, 0);
}

#[test]
fn id_with_slash_is_rejected() {
    let mut v = seed_node();
    v["id"] = json!("a/b");
    assert_eq!(fields(&validate(&v, &gov()).unwrap_err()), vec!["id"]);
}

#[test]
fn reserved_id_batch_is_rejected() {
    let mut v = seed_node();
    v["id"] = json!("batch");
    let errs = validate(&v, &gov()).unwrap_err();
    assert_eq!(fields(&errs), vec!["id"]);
    assert!(errs[0].message.contains("reserved"));
}

#[test]
fn not_an_object_is_rejected() {
    let errs = validate(&json!([1]), &gov()).unwrap_err();
    assert_eq!(fields(&errs), vec!["body"]);
}

#[test]
fn batch_splits_valid_and_invalid_and_names_index_and_id() {
    let mut bad = seed_node();
    bad["id"] = json!("node2");
    bad["host"] = json!("10.0.0.22");
    bad["max_concurrent"] = json!(0);
    let mut dup = seed_node();
    dup["host"] = json!("10.0.0.23");
    let mut clash = seed_node();
    clash["id"] = json!("node4");
    clash["host"] = json!("http://10.0.0.21/");
    let body = json!([seed_node(), bad, dup, clash]);
    let (ok, errs) = validate_batch(&body, &gov()).unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].0, 0);
    assert_eq!(errs.len(), 3);
    assert_eq!((errs[0].index, errs[0].id.as_str()), (1, "node2"));
    assert_eq!(
        errs[0].error,
        "validation failed: max_concurrent must be greater than 0, got 0"
    );
    assert_eq!((errs[1].index, errs[1].id.as_str()), (2, "node1"));
    assert!(errs[1].error.contains("duplicate node id"));
    assert_eq!((errs[2].index, errs[2].id.as_str()), (3, "node4"));
    assert!(errs[2]
        .error
        .contains("duplicate inference host+port combination: 10.0.0.21:5050"));
}

#[test]
fn batch_must_be_a_non_empty_array() {
    assert_eq!(
        validate_batch(&seed_node(), &gov()).unwrap_err().field,
        "body"
    );
    assert_eq!(
        validate_batch(&json!([]), &gov()).unwrap_err().field,
        "body"
    );
}

#[test]
fn normalize_host_strips_scheme_slash_and_case() {
    assert_eq!(normalize_host("HTTP://Node-A.local/"), "node-a.local");
    assert_eq!(normalize_host("10.0.0.1"), "10.0.0.1");
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("id"),
            Just("host"),
            Just("inference_port"),
            Just("poc_port"),
            Just("max_concurrent"),
            Just("models"),
            Just("Qwen/QwQ-32B"),
            Just("args")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_owned()),
                    Just("host".to_owned()),
                    Just("inference_port".to_owned()),
                    Just("poc_port".to_owned()),
                    Just("max_concurrent".to_owned()),
                    Just("models".to_owned()),
                    Just("args".to_owned()),
                    Just("Qwen/QwQ-32B".to_owned()),
                    Just("hardware".to_owned()),
                    ".{0,8}"
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn validate_never_panics_and_valid_means_rules_hold(v in arb_json()) {
        match validate(&v, &gov()) {
            Ok(c) => {
                prop_assert!(validate_config(&c, &gov()).is_empty());
                prop_assert!(c.inference_port >= 1 && c.max_concurrent >= 1 && !c.models.is_empty());
            }
            Err(errs) => {
                prop_assert!(!errs.is_empty());
                prop_assert!(errs.iter().all(|e| !e.field.is_empty() && !e.message.is_empty()));
            }
        }
        let _ = validate_batch(&v, &gov());
    }

    #[test]
    fn any_port_outside_range_is_rejected(p in prop_oneof![i64::MIN..=0i64, 65536i64..=i64::MAX]) {
        let mut v = seed_node();
        v["poc_port"] = json!(p);
        let errs = validate(&v, &gov()).unwrap_err();
        prop_assert_eq!(fields(&errs), vec!["poc_port"]);
    }

    #[test]
    fn any_valid_port_and_concurrency_round_trips(p in 1u16..=65535, m in 1u32..=u32::MAX) {
        let mut v = seed_node();
        v["inference_port"] = json!(p);
        v["max_concurrent"] = json!(m);
        let c = validate(&v, &gov()).unwrap();
        prop_assert_eq!((c.inference_port, c.max_concurrent), (p, m));
        let back = validate(&serde_json::to_value(&c).unwrap(), &gov()).unwrap();
        prop_assert_eq!(back, c);
    }
}
