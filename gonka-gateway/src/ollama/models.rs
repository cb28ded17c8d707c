//! The fleet's models in Ollama's shapes: `GET /api/tags` (every model some node serves now),
//! `GET /api/ps` (models loaded in engine memory, one entry per node, with `node_id`), and
//! `POST /api/show` (one model's details). Sizes the fleet does not report are 0; `details` are
//! read from the model's name (family, parameter size, quantization), as far as it tells them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gonka_core::{NodeStatus, NodeView};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::error::OllamaError;
use super::fields;
use super::relay::resolve_model;
use super::Since;
use crate::pool::NodeSnapshot;
use crate::server::AppState;

/// `GET /api/tags`: every model at least one node could serve now, with the nodes serving it.
pub async fn tags(
    State(state): State<AppState>,
    Extension(since): Extension<Since>,
) -> Json<Value> {
    Json(tags_of(&state.proxy.pool().snapshot(), &since.0))
}

/// The `/api/tags` body for `nodes`; `modified_at` is `since` (when the gateway started).
pub fn tags_of(nodes: &[NodeSnapshot], since: &str) -> Value {
    let mut models: BTreeMap<&str, (Vec<&str>, Option<&str>)> = BTreeMap::new();
    for n in nodes.iter().filter(|n| n.view.routable()) {
        for m in n.view.models.iter() {
            let entry = models.entry(m).or_default();
            entry.0.push(&n.view.id);
            entry.1 = entry.1.or(n.view.engine.as_deref());
        }
    }
    let models: Vec<Value> = models
        .into_iter()
        .map(|(name, (node_ids, engine))| {
            let mut m = model_entry(name, engine);
            m.insert("modified_at".into(), json!(since));
            m.insert("nodes".into(), json!(node_ids));
            Value::Object(m)
        })
        .collect();
    json!({ "models": models })
}

/// `GET /api/ps`: the models in engine memory, one entry per model and node (`node_id`). A
/// node that reports what it has loaded ([`NodeView::loaded`]) shows that, with the context
/// window; one that reports nothing shows the models it serves while it is in `INFERENCE` and
/// routable (its engine has them loaded to serve).
pub async fn ps(State(state): State<AppState>) -> Json<Value> {
    Json(ps_of(&state.proxy.pool().snapshot()))
}

/// The `/api/ps` body for `nodes`.
pub fn ps_of(nodes: &[NodeSnapshot]) -> Value {
    let mut entries: Vec<(String, String, Value)> = Vec::new();
    for n in nodes {
        let v = &n.view;
        let loaded: Vec<(&str, u32)> = if !v.loaded.is_empty() {
            if !v.healthy {
                continue;
            }
            v.loaded
                .iter()
                .map(|l| (&*l.name, l.context_length))
                .collect()
        } else if v.status == NodeStatus::Inference && v.routable() {
            v.models.iter().map(|m| (&**m, 0)).collect()
        } else {
            continue;
        };
        for (name, context) in loaded {
            let mut m = model_entry(name, v.engine.as_deref());
            m.insert("size_vram".into(), json!(0));
            if context > 0 {
                m.insert("context_length".into(), json!(context));
            }
            m.insert("node_id".into(), json!(&*v.id));
            entries.push((name.to_owned(), v.id.to_string(), Value::Object(m)));
        }
    }
    entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    json!({ "models": entries.into_iter().map(|e| e.2).collect::<Vec<_>>() })
}

/// `POST /api/show` (`{"model": ...}`): the details of a model some node declares, else 404.
pub async fn show(
    State(state): State<AppState>,
    Extension(since): Extension<Since>,
    body: Bytes,
) -> Response {
    let model = match fields::object(&body).and_then(|m| fields::model(&m)) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let pool = state.proxy.pool();
    let routed = resolve_model(pool, &model);
    if !pool.declares(&routed) {
        return OllamaError::model_not_found(&model).into_response();
    }
    Json(show_of(&routed, &pool.snapshot(), &since.0)).into_response()
}

/// The `/api/show` body for `model` over `nodes`.
pub fn show_of(model: &str, nodes: &[NodeSnapshot], since: &str) -> Value {
    let serving: Vec<&NodeView> = nodes
        .iter()
        .map(|n| &n.view)
        .filter(|v| v.serves(model))
        .collect();
    let engine = serving.iter().find_map(|v| v.engine.as_deref());
    let context = nodes
        .iter()
        .flat_map(|n| n.view.loaded.iter())
        .filter(|l| &*l.name == model)
        .map(|l| l.context_length)
        .max()
        .unwrap_or(0);
    let details = details(model, engine);
    let family = details["family"].as_str().unwrap_or_default().to_owned();
    let mut info = Map::new();
    info.insert("general.architecture".into(), json!(family));
    info.insert("general.basename".into(), json!(base_name(model)));
    if context > 0 {
        info.insert(format!("{family}.context_length"), json!(context));
    }
    json!({
        "modelfile": format!("FROM {model}\n"),
        "parameters": "",
        "template": "",
        "details": details,
        "model_info": info,
        "capabilities": ["completion"],
        "modified_at": since,
        "nodes": serving.iter().map(|v| &*v.id).collect::<Vec<_>>(),
    })
}

/// `name`, `model`, `size` (0: not reported), `digest` (SHA-256 of the name: the fleet has no
/// manifest digest) and `details` of one model.
fn model_entry(name: &str, engine: Option<&str>) -> Map<String, Value> {
    let digest: String = Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("model".into(), json!(name));
    m.insert("size".into(), json!(0));
    m.insert("digest".into(), json!(digest));
    m.insert("details".into(), details(name, engine));
    m
}

/// The model's name without its organisation (`Qwen/Qwen3-32B-FP8` → `Qwen3-32B-FP8`) and tag.
fn base_name(name: &str) -> &str {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split(':').next().unwrap_or(last)
}

/// Ollama's `details` as far as the name and engine tell them: `format` (`gguf` for llama.cpp,
/// else `safetensors`), `family` (the name's first word, lower case: `qwen3`), `parameter_size`
/// (a part such as `32B`), `quantization_level` (a part such as `FP8`, `AWQ`, `Q4_K_M`).
pub fn details(name: &str, engine: Option<&str>) -> Value {
    let family = base_name(name)
        .split(['-', '_', '.'])
        .next()
        .unwrap_or_default()
        .to_lowercase();
    // The name with its tag: `llama3.2:3b-instruct-q4_K_M` has the size and quantization there.
    let full = name.rsplit('/').next().unwrap_or(name);
    let parameter_size = full
        .split(['-', '_', ':'])
        .find(|p| {
            p.len() >= 2
                && p.ends_with(['B', 'b', 'M', 'm'])
                && p.starts_with(|c: char| c.is_ascii_digit())
                && p[..p.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
        })
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    let format = match engine {
        Some(e) if e.eq_ignore_ascii_case("llamacpp") || e.eq_ignore_ascii_case("llama.cpp") => {
            "gguf"
        }
        _ => "safetensors",
    };
    json!({
        "parent_model": "",
        "format": format,
        "family": family,
        "families": [family],
        "parameter_size": parameter_size,
        "quantization_level": quantization(full),
    })
}

/// A quantization named in the model's name: a known scheme (`FP8`, `AWQ`, ...) or a GGUF
/// one (`Q4_K_M`, `Q8_0`, `IQ4_XS`).
fn quantization(full: &str) -> String {
    const KNOWN: [&str; 10] = [
        "FP8", "FP16", "BF16", "INT8", "INT4", "AWQ", "GPTQ", "FP4", "NVFP4", "W4A16",
    ];
    let gguf = |p: &str| {
        let p = p.strip_prefix('I').unwrap_or(p);
        p.starts_with('Q') && p[1..].starts_with(|c: char| c.is_ascii_digit())
    };
    full.split(['-', '.', ':'])
        .map(str::to_ascii_uppercase)
        .find(|p| KNOWN.contains(&p.as_str()) || gguf(p))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn node(id: &str, models: &[&str], loaded: &[(&str, u32)], status: NodeStatus) -> NodeSnapshot {
        NodeSnapshot {
            view: NodeView {
                id: id.into(),
                models: models.iter().map(|m| Arc::<str>::from(*m)).collect(),
                max_concurrent: 4,
                status,
                healthy: true,
                admitted: true,
                loaded: loaded
                    .iter()
                    .map(|(n, c)| gonka_core::LoadedModel {
                        name: (*n).into(),
                        context_length: *c,
                    })
                    .collect(),
                ..NodeView::default()
            },
            breaker_open: false,
            health_passed: true,
        }
    }

    #[test]
    fn details_are_read_from_the_name() {
        let d = details("Qwen/Qwen3-32B-FP8", Some("vllm"));
        assert_eq!(d["family"], "qwen3");
        assert_eq!(d["parameter_size"], "32B");
        assert_eq!(d["quantization_level"], "FP8");
        assert_eq!(d["format"], "safetensors");
        let d = details("llama3.2:3b-instruct-q4_K_M", Some("llamacpp"));
        assert_eq!(d["family"], "llama3");
        assert_eq!(d["quantization_level"], "Q4_K_M");
        assert_eq!(d["parameter_size"], "3B");
        assert_eq!(d["format"], "gguf");
        assert_eq!(details("nomic-embed-text", None)["quantization_level"], "");
    }

    #[test]
    fn tags_list_each_served_model_once_with_its_nodes() {
        let nodes = [
            node("a", &["m1", "m2"], &[], NodeStatus::Inference),
            node("b", &["m1"], &[], NodeStatus::Inference),
            node("c", &["m3"], &[], NodeStatus::Poc),
        ];
        let v = tags_of(&nodes, "2026-01-01T00:00:00Z");
        let models = v["models"].as_array().unwrap();
        assert_eq!(models.len(), 2);
        assert_eq!(models[0]["name"], "m1");
        assert_eq!(models[0]["model"], "m1");
        assert_eq!(models[0]["nodes"], json!(["a", "b"]));
        assert_eq!(models[0]["digest"].as_str().unwrap().len(), 64);
        assert_eq!(models[1]["name"], "m2");
    }

    #[test]
    fn ps_shows_loaded_models_per_node_and_falls_back_to_served_ones() {
        let nodes = [
            node(
                "hot",
                &["m1", "m2"],
                &[("m2", 32768)],
                NodeStatus::Inference,
            ),
            node("plain", &["m1"], &[], NodeStatus::Inference),
            node("poc", &["m1"], &[], NodeStatus::Poc),
        ];
        let v = ps_of(&nodes);
        let models = v["models"].as_array().unwrap();
        let pairs: Vec<(String, String)> = models
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().into(),
                    m["node_id"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            vec![("m1".into(), "plain".into()), ("m2".into(), "hot".into())]
        );
        assert_eq!(models[1]["context_length"], 32768);
        assert!(models[0].get("context_length").is_none());
    }

    #[test]
    fn show_gives_details_and_the_loaded_context() {
        let nodes = [node(
            "a",
            &["Qwen/Qwen3-8B"],
            &[("Qwen/Qwen3-8B", 8192)],
            NodeStatus::Inference,
        )];
        let v = show_of("Qwen/Qwen3-8B", &nodes, "t");
        assert_eq!(v["details"]["family"], "qwen3");
        assert_eq!(v["model_info"]["qwen3.context_length"], 8192);
        assert_eq!(v["capabilities"], json!(["completion"]));
        assert_eq!(v["nodes"], json!(["a"]));
    }
}
