//! What the proxy reads from a client request: the model, streaming flag and routing hints.

use std::borrow::Cow;

use axum::http::HeaderMap;
use bytes::Bytes;
use gonka_core::RequestInfo;
use serde::Deserialize;

use crate::error::GatewayError;

/// Header naming a required GPU type (substring, case-insensitive), e.g. `H100`.
pub const HEADER_GPU_TYPE: &str = "x-gonka-gpu-type";
/// Header with the minimum GPU memory per device in MiB.
pub const HEADER_MIN_VRAM_MB: &str = "x-gonka-min-vram-mb";
/// Header naming the preferred engine (`vllm`, `sglang`, `llamacpp`, `simulator`).
pub const HEADER_ENGINE: &str = "x-gonka-engine";
/// Header with the request priority (integer, higher is more urgent).
pub const HEADER_PRIORITY: &str = "x-gonka-priority";

#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    stream: Option<bool>,
}

/// The parts of an OpenAI request body the gateway routes on.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    /// Scheduler input for the requested model.
    pub info: RequestInfo,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// Reads the model and routing hints of a completion request.
///
/// # Errors
/// `BadRequest` naming the problem: body not JSON, `model` missing or empty, a hint header that
/// does not parse.
pub fn parse(headers: &HeaderMap, body: &Bytes) -> Result<ParsedRequest, GatewayError> {
    let peek: Peek<'_> = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    let model = match peek.model {
        Some(m) if !m.trim().is_empty() => m.into_owned(),
        _ => {
            return Err(GatewayError::BadRequest(
                "you must provide a model parameter (`model` is missing or empty)".into(),
            ))
        }
    };
    let text = |name: &str| -> Result<Option<String>, GatewayError> {
        headers
            .get(name)
            .map(|v| {
                v.to_str().map(|s| s.trim().to_owned()).map_err(|_| {
                    GatewayError::BadRequest(format!("header {name} is not visible ASCII"))
                })
            })
            .transpose()
    };
    let min_vram_mb = text(HEADER_MIN_VRAM_MB)?
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                GatewayError::BadRequest(format!(
                    "header {HEADER_MIN_VRAM_MB} must be a whole number of MiB, got {v:?}"
                ))
            })
        })
        .transpose()?;
    let priority = text(HEADER_PRIORITY)?
        .map(|v| {
            v.parse::<i32>().map_err(|_| {
                GatewayError::BadRequest(format!(
                    "header {HEADER_PRIORITY} must be an integer, got {v:?}"
                ))
            })
        })
        .transpose()?
        .unwrap_or(0);
    Ok(ParsedRequest {
        info: RequestInfo {
            model,
            prompt_tokens: u32::try_from(body.len() / 4).unwrap_or(u32::MAX),
            priority,
            gpu_type: text(HEADER_GPU_TYPE)?.filter(|s| !s.is_empty()),
            min_vram_mb,
            engine: text(HEADER_ENGINE)?.filter(|s| !s.is_empty()),
            exclude: Vec::new(),
        },
        stream: peek.stream.unwrap_or(false),
    })
}

/// The `num_ctx` the body asks for (`num_ctx` or `options.num_ctx`), `None` when it sets none.
/// Bodies that do not mention `num_ctx` are not parsed again.
///
/// # Errors
/// `BadRequest` naming the field when the value is absurd ([`crate::context::BadNumCtx`]).
pub fn num_ctx(body: &Bytes) -> Result<Option<u32>, GatewayError> {
    if memchr::memmem::find(body, b"num_ctx").is_none() {
        return Ok(None);
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    crate::context::requested_num_ctx(&value).map_err(|e| GatewayError::BadRequest(e.to_string()))
}

/// The body for a node whose loaded context is `loaded_context` tokens, after context
/// protection ([`crate::context::protect`]): `num_ctx` stripped when the node's context holds it
/// (mode `strip`), else unchanged. A `num_ctx` above the loaded context is logged as a warning.
///
/// # Errors
/// `BadRequest` when the body is not JSON or its `num_ctx` is absurd.
pub fn protect_context(
    body: Bytes,
    mode: crate::context::ContextProtection,
    loaded_context: Option<u32>,
) -> Result<Bytes, GatewayError> {
    use crate::context::{protect, Protection};
    let mut value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| GatewayError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    match protect(&mut value, mode, loaded_context)
        .map_err(|e| GatewayError::BadRequest(e.to_string()))?
    {
        Protection::Stripped { num_ctx } => {
            tracing::debug!(num_ctx, "num_ctx within the loaded context: stripped");
            serde_json::to_vec(&value).map(Bytes::from).map_err(|e| {
                GatewayError::BadRequest(format!("cannot re-encode request body: {e}"))
            })
        }
        Protection::ReloadRisk { num_ctx, loaded } => {
            tracing::warn!(
                num_ctx,
                loaded_context = loaded,
                %mode,
                "num_ctx exceeds the node's loaded context: the engine may reload the model"
            );
            Ok(body)
        }
        Protection::Absent | Protection::Kept { .. } => Ok(body),
    }
}

/// The body with `model` replaced (used when a fallback model serves the request).
///
/// # Errors
/// `BadRequest` when the body is not a JSON object.
pub fn with_model(body: &Bytes, model: &str) -> Result<Bytes, GatewayError> {
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| GatewayError::BadRequest(format!("request body is not valid JSON: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| GatewayError::BadRequest("request body must be a JSON object".into()))?;
    obj.insert("model".into(), serde_json::Value::String(model.to_owned()));
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| GatewayError::BadRequest(format!("cannot re-encode request body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_stream_and_hints() {
        let mut h = HeaderMap::new();
        h.insert(HEADER_GPU_TYPE, "H100".parse().unwrap());
        h.insert(HEADER_MIN_VRAM_MB, "40000".parse().unwrap());
        let body = Bytes::from_static(br#"{"model":"Qwen/QwQ-32B","stream":true,"messages":[]}"#);
        let p = parse(&h, &body).unwrap();
        assert_eq!(p.info.model, "Qwen/QwQ-32B");
        assert!(p.stream);
        assert_eq!(p.info.gpu_type.as_deref(), Some("H100"));
        assert_eq!(p.info.min_vram_mb, Some(40_000));
    }

    #[test]
    fn missing_model_and_bad_json_are_named() {
        let h = HeaderMap::new();
        let e = parse(&h, &Bytes::from_static(b"{\"messages\":[]}")).unwrap_err();
        assert!(e.to_string().contains("model"));
        let e = parse(&h, &Bytes::from_static(b"{nope")).unwrap_err();
        assert!(e.to_string().contains("not valid JSON"));
    }

    #[test]
    fn bad_vram_header_is_named() {
        let mut h = HeaderMap::new();
        h.insert(HEADER_MIN_VRAM_MB, "lots".parse().unwrap());
        let e = parse(&h, &Bytes::from_static(br#"{"model":"m"}"#)).unwrap_err();
        assert!(e.to_string().contains(HEADER_MIN_VRAM_MB));
    }

    #[test]
    fn with_model_replaces_only_the_model() {
        let body = Bytes::from_static(br#"{"model":"a","max_tokens":3}"#);
        let v: serde_json::Value =
            serde_json::from_slice(&with_model(&body, "b").unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"model": "b", "max_tokens": 3}));
    }
}
