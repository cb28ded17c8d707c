//! The configuration of one ML node, as registered through the admin API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Engine arguments for one model served by a node (seed 000: `"models": {"M": {"args": [...]}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelArgs {
    /// Extra command-line arguments for the engine (e.g. `["--tensor-parallel-size", "4"]`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(nullable, max_items = 512))]
    pub args: Vec<String>,
}

/// One kind of accelerator installed in a node (upstream `hardware: [{type, count}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hardware {
    /// Accelerator model, e.g. `"NVIDIA H100 80GB HBM3"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// How many of them.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 4294967295.0))]
    pub count: u32,
}

/// A validated ML node configuration. Field names match seed 000 and the upstream network node.
///
/// Build one from untrusted JSON with [`crate::validate`], which reports every problem; the
/// `Deserialize` impl is for trusted data (e.g. rows read back from a database).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeConfig {
    /// Unique identifier chosen by the operator.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 128,
            pattern = r"^[^/\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$"
        )
    )]
    pub id: String,
    /// Static IP, DNS name or container name of the ML node; may carry a scheme
    /// (`http://10.0.0.21`), as in seed 000's PUT example.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 300))]
    pub host: String,
    /// Optional path prefix of the inference API on the node (upstream `inference_segment`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "openapi", schema(nullable))]
    pub inference_segment: String,
    /// Port of the OpenAI-compatible inference API (ML node port 5000, often mapped to 5050).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub inference_port: u16,
    /// Optional path prefix of the management/PoC API on the node (upstream `poc_segment`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "openapi", schema(nullable))]
    pub poc_segment: String,
    /// Port of the management and Proof-of-Compute API (ML node port 8080).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 65535))]
    pub poc_port: u16,
    /// Model name → engine arguments. At least one; every name is in the governance list.
    pub models: BTreeMap<String, ModelArgs>,
    /// Maximum number of concurrent inference requests the node accepts (≥ 1).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4294967295.0))]
    pub max_concurrent: u32,
    /// Stable number assigned by the registry on first insert and used as the PoC node id.
    /// Ignored on input.
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable, minimum = 0, maximum = 18446744073709551615.0)
    )]
    pub node_num: u64,
    /// Accelerators installed, when known. Used by hardware-aware scheduling filters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(nullable))]
    pub hardware: Vec<Hardware>,
}

impl NodeConfig {
    /// A minimal node serving `model`, for tests and examples:
    /// host `127.0.0.1`, inference port 5000, PoC port 8080, max_concurrent 1.
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        let mut models = BTreeMap::new();
        models.insert(model.into(), ModelArgs::default());
        Self {
            id: id.into(),
            host: "127.0.0.1".into(),
            inference_segment: String::new(),
            inference_port: 5000,
            poc_segment: String::new(),
            poc_port: 8080,
            models,
            max_concurrent: 1,
            node_num: 0,
            hardware: Vec::new(),
        }
    }

    /// Builder-style: sets host and both ports.
    pub fn at(mut self, host: impl Into<String>, inference_port: u16, poc_port: u16) -> Self {
        self.host = host.into();
        self.inference_port = inference_port;
        self.poc_port = poc_port;
        self
    }

    /// Builder-style: sets `max_concurrent`.
    pub fn max_concurrent(mut self, n: u32) -> Self {
        self.max_concurrent = n;
        self
    }

    /// Builder-style: adds a model with arguments.
    pub fn model(mut self, name: impl Into<String>, args: Vec<String>) -> Self {
        self.models.insert(name.into(), ModelArgs { args });
        self
    }

    /// Base URL of the node's inference API, e.g. `http://10.0.0.21:5050` (+ segment).
    pub fn inference_url(&self) -> String {
        base_url(&self.host, self.inference_port, &self.inference_segment)
    }

    /// Base URL of the node's management/PoC API, e.g. `http://10.0.0.21:8080` (+ segment).
    pub fn poc_url(&self) -> String {
        base_url(&self.host, self.poc_port, &self.poc_segment)
    }

    /// Whether the node declares `model`.
    pub fn serves(&self, model: &str) -> bool {
        self.models.contains_key(model)
    }
}

fn base_url(host: &str, port: u16, segment: &str) -> String {
    let host = host.trim_end_matches('/');
    let (scheme, bare) = match host.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("http", host),
    };
    let segment = segment.trim_matches('/');
    if segment.is_empty() {
        format!("{scheme}://{bare}:{port}")
    } else {
        format!("{scheme}://{bare}:{port}/{segment}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_seed_field_names() {
        let n = NodeConfig::new("node1", "Qwen/Qwen3-32B-FP8")
            .at("10.0.0.21", 5050, 8080)
            .max_concurrent(500);
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "node1", "host": "10.0.0.21", "inference_port": 5050, "poc_port": 8080,
                "max_concurrent": 500, "node_num": 0,
                "models": {"Qwen/Qwen3-32B-FP8": {"args": []}}
            })
        );
    }

    #[test]
    fn urls_accept_a_scheme_in_host() {
        let n = NodeConfig::new("n", "m").at("http://10.0.0.21", 5050, 8080);
        assert_eq!(n.inference_url(), "http://10.0.0.21:5050");
        let mut n = n.at("10.0.0.21/", 5050, 8080);
        n.poc_segment = "/mgmt/".into();
        assert_eq!(n.poc_url(), "http://10.0.0.21:8080/mgmt");
    }
}
