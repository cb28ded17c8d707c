//! Validation of node configurations as pure functions.
//!
//! Every function reports *all* problems it finds, each tied to the field it concerns, with
//! messages worded like the upstream network node (`inference_port must be between 1 and 65535,
//! got 0`). Checks that need the whole registry (no two nodes on one host:port) are done by the
//! registry itself, atomically with the write; [`normalize_host`] is the comparison key they use.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{FieldError, GovernanceModels, Hardware, ModelArgs, NodeConfig};

mod host;

pub use host::{normalize_host, stale_host_keys};

/// Longest accepted node id.
pub const MAX_ID_LEN: usize = 128;
/// Longest accepted host (a DNS name is at most 253 characters, plus an optional scheme).
pub const MAX_HOST_LEN: usize = 300;
/// Most engine arguments accepted for one model.
pub const MAX_ARGS: usize = 512;

const KNOWN_FIELDS: [&str; 10] = [
    "id",
    "host",
    "inference_segment",
    "inference_port",
    "poc_segment",
    "poc_port",
    "models",
    "max_concurrent",
    "node_num",
    "hardware",
];

/// One rejected element of a batch: its position, its id (empty when it had none) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchError {
    /// Position of the node in the request array.
    pub index: usize,
    /// The node's id as sent, or empty.
    pub id: String,
    /// All problems, joined like upstream: `validation failed: a; b`.
    pub error: String,
    /// The individual problems with their fields.
    pub fields: Vec<FieldError>,
}

impl BatchError {
    /// Builds a batch error from field problems.
    pub fn new(index: usize, id: impl Into<String>, fields: Vec<FieldError>) -> Self {
        let error = format!(
            "validation failed: {}",
            fields
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        Self {
            index,
            id: id.into(),
            error,
            fields,
        }
    }
}

/// Validates an untrusted JSON node body and builds the [`NodeConfig`].
///
/// Reports every problem at once: unknown fields (by name), missing fields, wrong JSON types,
/// and the semantic rules of [`validate_config`]. `node_num` is accepted (so a node read from
/// `GET /admin/v1/nodes` can be sent back) but ignored: the registry assigns it.
///
/// # Errors
/// The list of problems, never empty.
pub fn validate(
    value: &Value,
    governance: &GovernanceModels,
) -> Result<NodeConfig, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError::new(
            "body",
            format!("node must be a JSON object, got {}", type_name(value)),
        )]);
    };
    let mut errors = Vec::new();
    for key in obj.keys() {
        if !KNOWN_FIELDS.contains(&key.as_str()) {
            let field = if key.is_empty() {
                "\"\"".to_owned()
            } else {
                key.clone()
            };
            errors.push(FieldError::new(
                field,
                format!(
                    "unknown field `{key}`; expected one of {}",
                    KNOWN_FIELDS.join(", ")
                ),
            ));
        }
    }
    let id = string_field(obj, "id", true, &mut errors);
    let host = string_field(obj, "host", true, &mut errors);
    let inference_segment = string_field(obj, "inference_segment", false, &mut errors);
    let poc_segment = string_field(obj, "poc_segment", false, &mut errors);
    let inference_port = port_field(obj, "inference_port", &mut errors);
    let poc_port = port_field(obj, "poc_port", &mut errors);
    let max_concurrent = max_concurrent_field(obj, &mut errors);
    let models = models_field(obj, &mut errors);
    let hardware = hardware_field(obj, &mut errors);
    if let Some(v) = obj.get("node_num") {
        if !(v.is_u64() || v.is_null()) {
            errors.push(FieldError::new(
                "node_num",
                format!(
                    "node_num must be a non-negative integer, got {}",
                    type_name(v)
                ),
            ));
        }
    }
    let config = NodeConfig {
        id: id.unwrap_or_default(),
        host: host.unwrap_or_default(),
        inference_segment: inference_segment.unwrap_or_default(),
        inference_port: inference_port.unwrap_or(0),
        poc_segment: poc_segment.unwrap_or_default(),
        poc_port: poc_port.unwrap_or(0),
        models: models.unwrap_or_default(),
        max_concurrent: max_concurrent.unwrap_or(0),
        node_num: 0,
        hardware: hardware.unwrap_or_default(),
    };
    // Semantic checks only for fields that parsed, so one problem is not reported twice.
    for e in validate_config(&config, governance) {
        if !errors.iter().any(|x| x.field == e.field) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// The semantic rules on an already typed configuration.
///
/// Returns every problem; an empty vector means valid. Rules: id non-empty, at most
/// [`MAX_ID_LEN`] characters, without `/`, whitespace or control characters; host non-empty
/// without whitespace, without a port (`10.0.0.21:5050`), IPv6 in brackets, IPv4 as four
/// decimal numbers without leading zeros (`010.000.000.021` is ambiguous: see
/// [`normalize_host`]); both ports in 1–65535; `max_concurrent` ≥ 1; at least one model; every
/// model in `governance`; at most [`MAX_ARGS`] arguments per model.
pub fn validate_config(config: &NodeConfig, governance: &GovernanceModels) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let id = &config.id;
    if id.trim().is_empty() {
        errors.push(FieldError::new(
            "id",
            "node id is required and cannot be empty",
        ));
    } else if id.chars().count() > MAX_ID_LEN {
        errors.push(FieldError::new(
            "id",
            format!(
                "node id must be at most {MAX_ID_LEN} characters, got {}",
                id.chars().count()
            ),
        ));
    } else if id == "batch" {
        errors.push(FieldError::new(
            "id",
            "node id \"batch\" is reserved (it would collide with /admin/v1/nodes/batch)",
        ));
    } else if id
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        errors.push(FieldError::new(
            "id",
            format!("node id must not contain '/', whitespace or control characters, got {id:?}"),
        ));
    }
    let host = config.host.trim();
    if host.is_empty() || normalize_host(host).is_empty() {
        errors.push(FieldError::new(
            "host",
            "host is required and cannot be empty",
        ));
    } else if config.host.len() > MAX_HOST_LEN {
        errors.push(FieldError::new(
            "host",
            format!(
                "host must be at most {MAX_HOST_LEN} characters, got {}",
                config.host.len()
            ),
        ));
    } else if config
        .host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        errors.push(FieldError::new(
            "host",
            format!(
                "host must not contain whitespace or control characters, got {:?}",
                config.host
            ),
        ));
    } else if let Some(problem) = host::host_problem(&config.host) {
        errors.push(FieldError::new("host", problem));
    }
    for (field, port) in [
        ("inference_port", config.inference_port),
        ("poc_port", config.poc_port),
    ] {
        if port == 0 {
            errors.push(FieldError::new(
                field,
                format!("{field} must be between 1 and 65535, got 0"),
            ));
        }
    }
    if config.max_concurrent == 0 {
        errors.push(FieldError::new(
            "max_concurrent",
            "max_concurrent must be greater than 0, got 0",
        ));
    }
    if config.models.is_empty() {
        errors.push(FieldError::new(
            "models",
            "at least one model must be specified",
        ));
    }
    for (name, args) in &config.models {
        if !governance.contains(name) {
            errors.push(FieldError::new(
                "models",
                format!(
                    "model {name:?} is not in the governance list; supported models: {}",
                    governance.iter().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        if args.args.len() > MAX_ARGS {
            errors.push(FieldError::new(
                format!("models.{name}.args"),
                format!("at most {MAX_ARGS} args per model, got {}", args.args.len()),
            ));
        }
    }
    errors
}

/// Validates a batch body: a JSON array of nodes.
///
/// Returns the valid nodes with their index, and one [`BatchError`] per invalid node. A node
/// whose id appeared earlier in the same batch, or whose host:port is taken by an earlier node of
/// the batch, is invalid. [`BatchValidator`] does the same one element at a time.
///
/// # Errors
/// A single problem when the body is not a non-empty array.
#[allow(clippy::type_complexity)]
pub fn validate_batch(
    value: &Value,
    governance: &GovernanceModels,
) -> Result<(Vec<(usize, NodeConfig)>, Vec<BatchError>), FieldError> {
    let Some(items) = value.as_array() else {
        return Err(not_an_array(value));
    };
    let mut validator = BatchValidator::new(governance);
    for item in items {
        validator.push(item);
    }
    validator.finish()
}

/// The problem of a batch body that is not an array.
fn not_an_array(value: &Value) -> FieldError {
    FieldError::new(
        "body",
        format!(
            "batch body must be a JSON array of nodes, got {}",
            type_name(value)
        ),
    )
}

/// [`validate_batch`] one element at a time, so a caller parsing a large batch holds one
/// element's JSON at a time rather than the whole document: [`push`](Self::push) each element
/// in order, then [`finish`](Self::finish).
#[derive(Debug)]
pub struct BatchValidator<'g> {
    governance: &'g GovernanceModels,
    next_index: usize,
    ok: Vec<(usize, NodeConfig)>,
    failed: Vec<BatchError>,
    ids: HashMap<String, usize>,
    endpoints: HashMap<(String, u16), String>,
}

impl<'g> BatchValidator<'g> {
    /// An empty batch validated against `governance`.
    pub fn new(governance: &'g GovernanceModels) -> Self {
        Self {
            governance,
            next_index: 0,
            ok: Vec::new(),
            failed: Vec::new(),
            ids: HashMap::new(),
            endpoints: HashMap::new(),
        }
    }

    /// Validates the next element (its index is the number pushed before it).
    pub fn push(&mut self, item: &Value) {
        let index = self.next_index;
        self.next_index += 1;
        let sent_id = item
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let config = match validate(item, self.governance) {
            Err(fields) => {
                self.failed.push(BatchError::new(index, sent_id, fields));
                return;
            }
            Ok(config) => config,
        };
        let mut fields = Vec::new();
        if let Some(first) = self.ids.get(&config.id) {
            fields.push(FieldError::new(
                "id",
                format!(
                    "duplicate node id '{}' in batch (first at index {first})",
                    config.id
                ),
            ));
        }
        let host = normalize_host(&config.host);
        for (kind, field, port) in [
            ("inference", "inference_port", config.inference_port),
            ("poc", "poc_port", config.poc_port),
        ] {
            if let Some(other) = self.endpoints.get(&(host.clone(), port)) {
                if other != &config.id {
                    fields.push(FieldError::new(
                        field,
                        format!(
                            "duplicate {kind} host+port combination: {host}:{port} (already used by node '{other}')"
                        ),
                    ));
                }
            }
        }
        if fields.is_empty() {
            self.ids.insert(config.id.clone(), index);
            self.endpoints
                .insert((host.clone(), config.inference_port), config.id.clone());
            self.endpoints
                .insert((host, config.poc_port), config.id.clone());
            self.ok.push((index, config));
        } else {
            self.failed.push(BatchError::new(index, sent_id, fields));
        }
    }

    /// The valid nodes with their index and the rejected ones.
    ///
    /// # Errors
    /// A single problem when no element was pushed (an empty batch).
    #[allow(clippy::type_complexity)]
    pub fn finish(self) -> Result<(Vec<(usize, NodeConfig)>, Vec<BatchError>), FieldError> {
        if self.next_index == 0 {
            return Err(FieldError::new(
                "body",
                "batch must contain at least one node",
            ));
        }
        Ok((self.ok, self.failed))
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field(
    obj: &Map<String, Value>,
    field: &str,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => {
            if required {
                let what = if field == "id" { "node id" } else { field };
                errors.push(FieldError::new(
                    field,
                    format!("{what} is required and cannot be empty"),
                ));
            }
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.push(FieldError::new(
                field,
                format!("{field} must be a string, got {}", type_name(other)),
            ));
            None
        }
    }
}

fn port_field(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<u16> {
    match obj.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                field,
                format!("{field} is required (1-65535)"),
            ));
            None
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(p) if (1..=65535).contains(&p) => u16::try_from(p).ok(),
            _ => {
                errors.push(FieldError::new(
                    field,
                    format!("{field} must be between 1 and 65535, got {n}"),
                ));
                None
            }
        },
        Some(other) => {
            errors.push(FieldError::new(
                field,
                format!(
                    "{field} must be an integer between 1 and 65535, got {}",
                    type_name(other)
                ),
            ));
            None
        }
    }
}

fn max_concurrent_field(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<u32> {
    const F: &str = "max_concurrent";
    match obj.get(F) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                F,
                "max_concurrent is required and must be greater than 0",
            ));
            None
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(v) if v >= 1 => match u32::try_from(v) {
                Ok(v) => Some(v),
                Err(_) => {
                    errors.push(FieldError::new(
                        F,
                        format!("max_concurrent must be at most {}, got {n}", u32::MAX),
                    ));
                    None
                }
            },
            _ => {
                errors.push(FieldError::new(
                    F,
                    format!("max_concurrent must be greater than 0, got {n}"),
                ));
                None
            }
        },
        Some(other) => {
            errors.push(FieldError::new(
                F,
                format!(
                    "max_concurrent must be an integer, got {}",
                    type_name(other)
                ),
            ));
            None
        }
    }
}

fn models_field(
    obj: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Option<BTreeMap<String, ModelArgs>> {
    let v = match obj.get("models") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                "models",
                "at least one model must be specified",
            ));
            return None;
        }
        Some(v) => v,
    };
    let Some(map) = v.as_object() else {
        errors.push(FieldError::new(
            "models",
            format!(
                "models must be an object of model name to {{\"args\": [...]}}, got {}",
                type_name(v)
            ),
        ));
        return None;
    };
    let mut out = BTreeMap::new();
    for (name, entry) in map {
        let field = format!("models.{name}");
        if name.trim().is_empty() {
            errors.push(FieldError::new("models", "model name cannot be empty"));
            continue;
        }
        let Some(entry_obj) = entry.as_object() else {
            errors.push(FieldError::new(
                field,
                format!(
                    "model {name:?} must map to an object {{\"args\": [...]}}, got {}",
                    type_name(entry)
                ),
            ));
            // Keep the name so the governance check still runs and "no models" is not claimed.
            out.insert(name.clone(), ModelArgs::default());
            continue;
        };
        for key in entry_obj.keys() {
            if key != "args" {
                errors.push(FieldError::new(
                    format!("{field}.{key}"),
                    format!("unknown field `{key}` in model {name:?}; expected `args`"),
                ));
            }
        }
        let args = match entry_obj.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => {
                let mut args = Vec::with_capacity(items.len());
                for (i, a) in items.iter().enumerate() {
                    match a.as_str() {
                        Some(s) => args.push(s.to_owned()),
                        None => errors.push(FieldError::new(
                            format!("{field}.args"),
                            format!(
                                "args[{i}] of model {name:?} must be a string, got {}",
                                type_name(a)
                            ),
                        )),
                    }
                }
                args
            }
            Some(other) => {
                errors.push(FieldError::new(
                    format!("{field}.args"),
                    format!(
                        "args of model {name:?} must be an array of strings, got {}",
                        type_name(other)
                    ),
                ));
                Vec::new()
            }
        };
        out.insert(name.clone(), ModelArgs { args });
    }
    Some(out)
}

fn hardware_field(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Vec<Hardware>> {
    match obj.get("hardware") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(v) => match serde_json::from_value::<Vec<Hardware>>(v.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                errors.push(FieldError::new(
                    "hardware",
                    format!("hardware must be an array of {{\"type\": string, \"count\": integer}}: {e}"),
                ));
                None
            }
        },
    }
}

#[cfg(test)]
mod tests;
