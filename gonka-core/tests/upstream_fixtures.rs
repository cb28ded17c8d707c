//! The upstream wire fixtures (`tests/fixtures/upstream/`): every file listed in `index.json`
//! exists and parses, nothing is unlisted, and each body keeps the shape upstream's Go decoder and
//! Python models impose (field names, JSON types, lists that stay lists, `null` where upstream
//! sends `null`). Only `serde_json::Value` is used, so the fixtures stay independent of our types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upstream")
}

fn load(rel: &str) -> Value {
    let path = dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

fn index() -> Value {
    load("index.json")
}

fn exchanges() -> Vec<Value> {
    index()["exchanges"].as_array().expect("exchanges").clone()
}

/// Every `.json` below the fixture directory, relative, without `index.json`.
fn fixture_files() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir()];
    let mut visited = 0;
    while let Some(d) = stack.pop() {
        visited += 1;
        assert!(visited < 100, "fixture tree deeper than expected");
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let rel = path
                    .strip_prefix(dir())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if rel != "index.json" {
                    out.insert(rel);
                }
            }
        }
    }
    out
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(items: &[&'a str]) -> BTreeSet<&'a str> {
    items.iter().copied().collect()
}

fn is_int(v: &Value) -> bool {
    v.is_i64() || v.is_u64()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Go's `url.PathEscape` for the characters a model id holds.
fn go_path_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An artifact: integer nonce, 12 little-endian f16 values in base64, all finite.
fn check_artifact(a: &Value, what: &str) {
    assert_eq!(keys(a), set(&["nonce", "vector_b64"]), "{what}");
    assert!(is_int(&a["nonce"]), "{what}: nonce must be an integer");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a["vector_b64"].as_str().expect("vector_b64 string"))
        .unwrap_or_else(|e| panic!("{what}: vector_b64 is not base64: {e}"));
    assert_eq!(bytes.len(), 24, "{what}: 12 f16 values");
    for pair in bytes.chunks(2) {
        let v = half::f16::from_le_bytes([pair[0], pair[1]]);
        assert!(v.is_finite(), "{what}: non-finite coordinate");
    }
}

#[test]
fn every_listed_fixture_exists_parses_and_nothing_is_unlisted() {
    let mut listed = BTreeSet::new();
    for e in exchanges() {
        let name = e["name"].as_str().unwrap();
        if let Some(body) = e["request_body"].as_str() {
            load(body);
            listed.insert(body.to_owned());
        }
        let responses = e["responses"].as_array().unwrap();
        assert!(!responses.is_empty(), "{name}: no response listed");
        for r in responses {
            let status = r["status"].as_u64().unwrap();
            assert!((200..600).contains(&status), "{name}: status {status}");
            if let Some(body) = r["body"].as_str() {
                load(body);
                listed.insert(body.to_owned());
            }
        }
        assert!(
            matches!(e["method"].as_str(), Some("GET" | "POST" | "DELETE")),
            "{name}: method"
        );
        assert!(
            matches!(
                e["port"].as_str(),
                Some("mgmt" | "inference" | "callback" | "engine")
            ),
            "{name}: port"
        );
        assert!(
            !e["sources"].as_array().unwrap().is_empty(),
            "{name}: sources"
        );
    }
    for f in index()["operator_files"].as_array().unwrap() {
        let file = f["file"].as_str().unwrap();
        load(file);
        listed.insert(file.to_owned());
        assert!(
            !f["sources"].as_array().unwrap().is_empty(),
            "{file}: sources"
        );
    }
    assert_eq!(
        listed,
        fixture_files(),
        "fixtures not listed in index.json or missing"
    );
}

#[test]
fn the_index_names_the_upstream_commits_and_the_versioned_url_layout() {
    let idx = index();
    for repo in ["gonka", "vllm"] {
        let s = idx["upstream"][repo].as_str().unwrap();
        let commit = s.split('@').nth(1).unwrap().split(' ').next().unwrap();
        assert!(is_hex(commit, 40), "{repo}: full commit id, got {commit}");
    }
    let u = &idx["url_construction"];
    let base = u["mgmt_base"]
        .as_str()
        .unwrap()
        .replace("{host}", "10.0.0.21")
        .replace("{poc_port}", "8080")
        .replace("{version}", "v3.0.8")
        .replace("{poc_segment}", "");
    assert_eq!(
        format!("{base}/api/v1/state"),
        u["example"].as_str().unwrap()
    );
}

#[test]
fn the_network_node_sends_no_token_and_no_content_type_except_on_delete() {
    for e in exchanges() {
        let name = e["name"].as_str().unwrap();
        let headers = e["request_headers"].as_object().unwrap();
        let content_type = headers.get("Content-Type").and_then(Value::as_str);
        assert!(
            !headers.contains_key("Authorization"),
            "{name}: no token upstream"
        );
        match (e["port"].as_str().unwrap(), e["method"].as_str().unwrap()) {
            ("mgmt", "DELETE") => assert_eq!(content_type, Some("application/json"), "{name}"),
            ("mgmt", _) => assert_eq!(content_type, None, "{name}: Go sends no Content-Type"),
            ("callback" | "engine", "POST") => {
                assert_eq!(
                    content_type,
                    Some("application/json"),
                    "{name}: JSON senders set it"
                )
            }
            _ => {}
        }
    }
    let stop = exchanges()
        .into_iter()
        .find(|e| e["name"] == "stop")
        .unwrap();
    assert!(stop["request_body"].is_null(), "stop has no body");
    assert_eq!(stop["request_headers"]["Content-Length"], "0");
}

#[test]
fn state_reports_inference_while_loading_and_during_poc_and_nulls_otherwise() {
    let states = ["inference", "loading", "poc_generating", "stopped"];
    for s in states {
        let v = load(&format!("mgmt/state.{s}.response.json"));
        assert_eq!(
            keys(&v),
            set(&[
                "state",
                "version",
                "poc_status",
                "inference_healthy",
                "loaded_model"
            ])
        );
        assert!(v["version"].is_string());
        let state = v["state"].as_str().unwrap();
        assert!(matches!(state, "INFERENCE" | "STOPPED" | "POW" | "TRAIN"));
        if state == "INFERENCE" {
            assert!(matches!(
                v["poc_status"].as_str(),
                Some("IDLE" | "GENERATING" | "VALIDATING" | "MIXED" | "NO_BACKENDS")
            ));
            assert!(v["inference_healthy"].is_boolean());
            assert!(v["loaded_model"].is_string() || v["loaded_model"].is_null());
        } else {
            assert!(v["poc_status"].is_null() && v["inference_healthy"].is_null());
            assert!(v["loaded_model"].is_null());
        }
    }
    let loading = load("mgmt/state.loading.response.json");
    assert_eq!(loading["state"], "INFERENCE");
    assert_eq!(loading["inference_healthy"], false);
    assert_eq!(loading["poc_status"], "NO_BACKENDS");
    let poc = load("mgmt/state.poc_generating.response.json");
    assert_eq!(
        (&poc["state"], &poc["poc_status"]),
        (&"INFERENCE".into(), &"GENERATING".into())
    );
}

#[test]
fn pow_status_backends_is_a_list_of_port_and_status() {
    for f in ["generating", "idle", "no_backends"] {
        let v = load(&format!("mgmt/pow_status.{f}.response.json"));
        let status = v["status"].as_str().unwrap();
        assert!(matches!(
            status,
            "GENERATING" | "MIXED" | "IDLE" | "NO_BACKENDS"
        ));
        let backends = v["backends"].as_array().expect("backends must be a list");
        assert_eq!(backends.is_empty(), status == "NO_BACKENDS", "{f}");
        for b in backends {
            assert!(
                b["port"].as_u64().is_some_and(|p| p > 0 && p < 65536),
                "{f}: port"
            );
            assert!(b["status"].is_string(), "{f}: status");
        }
        let decoded: gonka_core::poc::wire::PowStatus = serde_json::from_value(v.clone())
            .unwrap_or_else(|e| panic!("{f}: upstream's pow/status decodes as PowStatus: {e}"));
        assert_eq!(decoded.backends.len(), backends.len(), "{f}");
    }
}

#[test]
fn pow_init_generate_request_is_what_go_marshals_and_its_answer_counts_backends() {
    let req = load("mgmt/pow_init_generate.request.json");
    let go_fields = set(&[
        "block_hash",
        "block_height",
        "public_key",
        "node_id",
        "node_count",
        "params",
        "url",
        "poc_stronger_rng",
    ]);
    assert!(keys(&req).is_subset(&go_fields), "Go sends no batch_size");
    assert_eq!(
        keys(&req["params"]),
        set(&["model", "seq_len"]),
        "Go sends no k_dim"
    );
    assert!(req["node_id"].as_u64().unwrap() < req["node_count"].as_u64().unwrap());
    assert!(is_hex(req["block_hash"].as_str().unwrap(), 64));
    assert!(is_hex(req["public_key"].as_str().unwrap(), 66));
    let model = req["params"]["model"].as_str().unwrap();
    let url = req["url"].as_str().unwrap();
    let tail = format!("/v2/poc-batches/{}", go_path_escape(&go_path_escape(model)));
    assert!(url.ends_with(&tail), "{url} must end with {tail}");
    for f in ["response", "partial.response"] {
        let v = load(&format!("mgmt/pow_init_generate.{f}.json"));
        assert_eq!(v["status"], "OK");
        let results = v["results"].as_array().unwrap();
        assert!(is_int(&v["backends"]), "here backends is a count");
        assert_eq!(v["backends"].as_u64().unwrap(), results.len() as u64, "{f}");
        for r in results {
            assert_eq!(keys(r), set(&["port", "status"]));
            assert!(is_int(&r["port"]));
        }
        match &v["errors"] {
            Value::Null => {}
            Value::Array(errors) => {
                for e in errors {
                    assert_eq!(keys(e), set(&["port", "error"]));
                    assert!(e["error"].is_string());
                }
            }
            other => panic!("errors must be null or a list, got {other}"),
        }
    }
}

#[test]
fn validation_request_carries_one_artifact_per_nonce_and_the_chain_stat_test() {
    let req = load("mgmt/pow_generate.validate.request.json");
    assert!(req.get("wait").is_none(), "Go omits wait=false");
    assert!(req.get("batch_size").is_none());
    let nonces: BTreeSet<i64> = req["nonces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect();
    let artifacts = req["validation"]["artifacts"].as_array().unwrap();
    for (i, a) in artifacts.iter().enumerate() {
        check_artifact(a, &format!("validation artifact {i}"));
    }
    let given: BTreeSet<i64> = artifacts
        .iter()
        .map(|a| a["nonce"].as_i64().unwrap())
        .collect();
    assert_eq!(nonces, given);
    assert_eq!(
        keys(&req["stat_test"]),
        set(&["dist_threshold", "p_mismatch", "p_value_threshold"])
    );
    let queued = load("mgmt/pow_generate.queued.response.json");
    assert_eq!(queued["status"], "queued");
    let id = queued["request_id"].as_str().unwrap();
    let (port, engine_id) = id.split_once(':').expect("<port>:<id>");
    assert!(
        port.parse::<u16>().is_ok(),
        "request_id starts with the backend port"
    );
    let engine = load("engine/pow_generate.queued.response.json");
    assert_eq!(engine["request_id"], engine_id);
    let mismatch = load("mgmt/pow_generate.params_mismatch.response.json");
    let inner: Value = serde_json::from_str(mismatch["detail"].as_str().unwrap()).unwrap();
    assert_eq!(inner["detail"]["error"], "params mismatch");
}

#[test]
fn the_ml_node_forwards_to_the_engine_with_groups_and_its_own_stat_test_model() {
    let mgmt = load("mgmt/pow_init_generate.request.json");
    let engine = load("engine/pow_init_generate.request.json");
    for (k, v) in mgmt.as_object().unwrap() {
        if k != "params" {
            assert_eq!(&engine[k], v, "{k} forwarded unchanged");
        }
    }
    assert_eq!(engine["params"]["model"], mgmt["params"]["model"]);
    assert_eq!(engine["params"]["seq_len"], mgmt["params"]["seq_len"]);
    assert_eq!(engine["params"]["k_dim"], 12);
    assert!(engine["group_id"].as_u64().unwrap() < engine["n_groups"].as_u64().unwrap());
    let gen_mgmt = load("mgmt/pow_generate.validate.request.json");
    let gen_engine = load("engine/pow_generate.request.json");
    let st = &gen_engine["stat_test"];
    assert_eq!(
        keys(st),
        set(&["dist_threshold", "p_mismatch", "fraud_threshold"])
    );
    assert_eq!(
        st["dist_threshold"],
        gen_mgmt["stat_test"]["dist_threshold"]
    );
    assert_eq!(st["p_mismatch"], gen_mgmt["stat_test"]["p_mismatch"]);
    assert_eq!(gen_engine["validation"], gen_mgmt["validation"]);
    assert_eq!(gen_engine["wait"], false);
}

#[test]
fn callbacks_have_go_field_names_and_types() {
    let encoding = serde_json::json!({"dtype": "f16", "k_dim": 12, "endian": "le"});
    for f in ["generated.request", "generated.from_queue.request"] {
        let v = load(&format!("callback/{f}.json"));
        let mut expected = set(&[
            "public_key",
            "block_hash",
            "block_height",
            "node_id",
            "artifacts",
            "encoding",
        ]);
        if f.contains("queue") {
            expected.insert("request_id");
        }
        assert_eq!(keys(&v), expected, "{f}");
        assert_eq!(v["encoding"], encoding);
        assert!(is_int(&v["block_height"]) && is_int(&v["node_id"]));
        let artifacts = v["artifacts"].as_array().unwrap();
        assert!(!artifacts.is_empty());
        for (i, a) in artifacts.iter().enumerate() {
            check_artifact(a, &format!("{f} artifact {i}"));
        }
    }
    for f in ["validated.request", "validated.fraud.request"] {
        let v = load(&format!("callback/{f}.json"));
        assert_eq!(
            keys(&v),
            set(&[
                "request_id",
                "block_hash",
                "block_height",
                "public_key",
                "node_id",
                "n_total",
                "n_mismatch",
                "mismatch_nonces",
                "p_value",
                "fraud_detected",
            ])
        );
        assert!(
            is_hex(v["public_key"].as_str().unwrap(), 66),
            "hex public key"
        );
        let n_total = v["n_total"].as_u64().unwrap();
        let n_mismatch = v["n_mismatch"].as_u64().unwrap();
        assert!(n_mismatch <= n_total);
        let listed = v["mismatch_nonces"].as_array().unwrap();
        assert_eq!(listed.len() as u64, n_mismatch);
        assert!(listed.iter().all(is_int));
        let p = v["p_value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p));
        assert!(v["fraud_detected"].is_boolean());
    }
}

#[test]
fn one_round_is_described_consistently_across_fixtures() {
    let init = load("mgmt/pow_init_generate.request.json");
    let mut seen: BTreeMap<&str, Value> = BTreeMap::new();
    for f in [
        "callback/generated.request.json",
        "callback/generated.from_queue.request.json",
        "callback/validated.request.json",
        "mgmt/pow_generate.validate.request.json",
        "engine/pow_init_generate.request.json",
    ] {
        let v = load(f);
        assert_eq!(v["block_hash"], init["block_hash"], "{f}");
        assert_eq!(v["block_height"], init["block_height"], "{f}");
        seen.insert(f, v);
    }
    // Generation callbacks carry the generating node's key and number; validation the prover's.
    assert_eq!(
        seen["callback/generated.request.json"]["public_key"],
        init["public_key"]
    );
    assert_eq!(
        seen["callback/generated.request.json"]["node_id"],
        init["node_id"]
    );
    assert_eq!(
        seen["callback/validated.request.json"]["public_key"],
        seen["mgmt/pow_generate.validate.request.json"]["public_key"]
    );
}

#[test]
fn gpu_and_model_endpoints_use_upstream_names_and_types() {
    let driver = load("mgmt/gpu_driver.response.json");
    assert_eq!(
        keys(&driver),
        set(&["driver_version", "cuda_driver_version", "nvml_version"])
    );
    assert!(driver.as_object().unwrap().values().all(Value::is_string));
    let device_keys = set(&[
        "index",
        "name",
        "total_memory_mb",
        "free_memory_mb",
        "used_memory_mb",
        "utilization_percent",
        "temperature_c",
        "is_available",
        "error_message",
    ]);
    for f in ["gpu_devices", "gpu_devices.none"] {
        let v = load(&format!("mgmt/{f}.response.json"));
        let devices = v["devices"].as_array().unwrap();
        assert_eq!(v["count"].as_u64().unwrap(), devices.len() as u64);
        for d in devices {
            assert_eq!(keys(d), device_keys);
            assert!(is_int(&d["index"]) && d["name"].is_string() && d["is_available"].is_boolean());
            for k in ["total_memory_mb", "free_memory_mb", "used_memory_mb"] {
                assert!(is_int(&d[k]) || d[k].is_null(), "{k}");
            }
            assert_eq!(d["is_available"] == false, d["error_message"].is_string());
        }
    }
    let statuses = [
        "DOWNLOADED",
        "DOWNLOADING",
        "NOT_FOUND",
        "PARTIAL",
        "IGNORED",
    ];
    let check_model = |m: &Value| {
        assert_eq!(keys(m), set(&["hf_repo", "hf_commit"]));
        assert!(m["hf_repo"].is_string());
        assert!(m["hf_commit"].is_string() || m["hf_commit"].is_null());
    };
    for f in ["models_status", "models_download", "models_delete"] {
        check_model(&load(&format!("mgmt/{f}.request.json")));
    }
    for f in ["downloading", "downloaded"] {
        let v = load(&format!("mgmt/models_status.{f}.response.json"));
        assert_eq!(
            keys(&v),
            set(&["model", "status", "progress", "error_message"])
        );
        check_model(&v["model"]);
        assert!(statuses.contains(&v["status"].as_str().unwrap()));
        let p = &v["progress"];
        assert!(p.is_null() || keys(p) == set(&["start_time", "elapsed_seconds"]));
    }
    let list = load("mgmt/models_list.response.json");
    assert_eq!(keys(&list), set(&["models"]));
    for item in list["models"].as_array().unwrap() {
        assert_eq!(keys(item), set(&["model", "status"]));
        check_model(&item["model"]);
        assert!(statuses.contains(&item["status"].as_str().unwrap()));
    }
    let space = load("mgmt/models_space.response.json");
    assert_eq!(
        keys(&space),
        set(&["cache_size_gb", "available_gb", "cache_path"])
    );
    assert!(space["cache_size_gb"].is_number() && space["available_gb"].is_number());
    let download = load("mgmt/models_download.response.json");
    assert_eq!(keys(&download), set(&["task_id", "status", "model"]));
    let models = load("inference/v1_models.response.json");
    assert!(
        models["data"][0]["id"].is_string(),
        "Go compares data[0].id"
    );
}

#[test]
fn inference_up_request_always_sends_dtype_and_an_argument_list() {
    let req = load("mgmt/inference_up.request.json");
    assert_eq!(keys(&req), set(&["model", "dtype", "additional_args"]));
    assert_eq!(req["dtype"], "auto");
    let args = req["additional_args"]
        .as_array()
        .expect("a list, never null");
    assert!(args.iter().all(Value::is_string));
    assert_eq!(
        load("mgmt/inference_up.response.json"),
        serde_json::json!({"status": "OK"})
    );
    for f in ["conflict", "failed"] {
        let v = load(&format!("mgmt/inference_up.{f}.response.json"));
        assert!(v["detail"].is_string(), "FastAPI error shape");
    }
    for f in ["in_progress", "failed"] {
        let v = load(&format!("mgmt/inference_up_status.{f}.response.json"));
        assert_eq!(
            keys(&v),
            set(&[
                "status",
                "is_starting",
                "is_running",
                "elapsed_seconds",
                "error"
            ])
        );
    }
}

#[test]
fn validation_exchange_decodes_into_the_wire_types() {
    use gonka_core::poc::wire::{GenerateQueued, GenerateRequest, ValidatedPayload};
    let req: GenerateRequest =
        serde_json::from_value(load("mgmt/pow_generate.validate.request.json")).unwrap();
    assert_eq!(req.node_count, 3);
    assert_eq!(
        req.url.as_deref(),
        Some("http://api:9100/v2/poc-batches/Qwen%252FQwen3-32B-FP8")
    );
    let queued: GenerateQueued =
        serde_json::from_value(load("mgmt/pow_generate.queued.response.json")).unwrap();
    assert_eq!(queued.status, "queued");
    assert_eq!(queued.queued_count, req.nonces.len());
    for (f, fraud) in [
        ("validated.request", false),
        ("validated.fraud.request", true),
    ] {
        let v: ValidatedPayload =
            serde_json::from_value(load(&format!("callback/{f}.json"))).unwrap();
        assert_eq!(v.fraud_detected, fraud, "{f}");
        assert_eq!(v.public_key, req.public_key, "{f}");
        assert_eq!(v.n_total, req.nonces.len(), "{f}");
        // The Python API prefixes the engine's id with its port; the engine's callback does not.
        assert!(queued.matches(&v.request_id), "{f}");
        assert!(!queued.matches("another-id") && !queued.matches(""));
    }
}

#[test]
fn node_config_is_an_array_of_go_inference_node_configs_and_validates_as_nodes() {
    let nodes = load("config/node-config.json");
    let items = nodes.as_array().expect("node-config.json is a JSON array");
    assert!(!items.is_empty());
    let allowed = set(&[
        "id",
        "host",
        "inference_segment",
        "inference_port",
        "poc_segment",
        "poc_port",
        "max_concurrent",
        "models",
        "hardware",
    ]);
    for n in items {
        let k = keys(n);
        assert!(
            k.is_subset(&allowed),
            "unknown InferenceNodeConfig field: {k:?}"
        );
        for required in [
            "id",
            "host",
            "inference_port",
            "poc_port",
            "max_concurrent",
            "models",
        ] {
            assert!(k.contains(required), "{required} missing: {n}");
        }
        for int in ["inference_port", "poc_port", "max_concurrent"] {
            assert!(is_int(&n[int]), "{int} is an int in Go: {n}");
        }
        for (model, cfg) in n["models"].as_object().unwrap() {
            assert_eq!(
                keys(cfg),
                set(&["args"]),
                "{model}: ModelConfig has only args"
            );
            assert!(cfg["args"].is_array(), "{model}: args is a list");
        }
        if let Some(hw) = n.get("hardware") {
            for h in hw.as_array().unwrap() {
                assert_eq!(keys(h), set(&["type", "count"]));
                assert!(h["type"].is_string() && is_int(&h["count"]));
            }
        }
    }
    // Our admin API's validation takes upstream's file as it is.
    let (valid, invalid) =
        gonka_core::validate_batch(&nodes, &gonka_core::GovernanceModels::default()).unwrap();
    assert!(invalid.is_empty(), "{invalid:?}");
    assert_eq!(valid.len(), items.len());
    let first = &valid[0].1;
    assert_eq!(first.id, items[0]["id"]);
    assert_eq!(
        first.hardware.first().map(|h| h.count),
        items[0]["hardware"][0]["count"].as_u64().map(|c| c as u32)
    );
    assert!(first.models.values().all(|m| !m.args.is_empty()));
}
