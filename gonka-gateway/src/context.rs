//! Context protection (seed 003): a request's `num_ctx` asks the engine for a context window;
//! an engine that has the model loaded with another window reloads it (for a large model,
//! minutes). A `num_ctx` at or below the window the chosen node has loaded is therefore stripped
//! from the request, and a larger one is routed to a node whose loaded window is big enough
//! (the model-aware policy's context-fit signal: [`routing_tokens`]).
//!
//! `num_ctx` is read from an Ollama body's `options.num_ctx` and from an OpenAI body's
//! `num_ctx` or `options.num_ctx`. [`protect`] is pure: the OpenAI proxy calls it for every try
//! and the Ollama handlers can call it on their own bodies.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

/// The largest `num_ctx` accepted: 10 M tokens. Larger values are refused as absurd.
pub const MAX_NUM_CTX: u64 = 10_000_000;

/// What the gateway does with a request's `num_ctx` (`--context-protection`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContextProtection {
    /// Strip a `num_ctx` the chosen node's loaded context already holds; route a larger one to
    /// a node whose loaded context is big enough (the default).
    #[default]
    Strip,
    /// Route like `strip` but never change the body: log a warning when the `num_ctx` exceeds
    /// the chosen node's loaded context (the engine may reload the model).
    Warn,
    /// Forward `num_ctx` untouched and do not route by it.
    Passthrough,
}

impl ContextProtection {
    /// The flag spelling: `strip`, `warn` or `passthrough`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strip => "strip",
            Self::Warn => "warn",
            Self::Passthrough => "passthrough",
        }
    }
}

impl fmt::Display for ContextProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--context-protection` value that is none of `strip`, `warn`, `passthrough`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown context protection {0:?}; expected strip, warn or passthrough")]
pub struct UnknownProtection(pub String);

impl FromStr for ContextProtection {
    type Err = UnknownProtection;

    /// `strip`, `warn` or `passthrough` (case-insensitive, blanks ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "strip" => Ok(Self::Strip),
            "warn" => Ok(Self::Warn),
            "passthrough" => Ok(Self::Passthrough),
            _ => Err(UnknownProtection(s.to_owned())),
        }
    }
}

/// A `num_ctx` that is not a whole number of tokens in `1..=`[`MAX_NUM_CTX`]: the request is
/// refused (400) and nothing is routed. The message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` must be a whole number of tokens between 1 and {MAX_NUM_CTX}, got {got}")]
pub struct BadNumCtx {
    /// The field at fault: `num_ctx` or `options.num_ctx`.
    pub field: &'static str,
    /// The value sent, as JSON.
    pub got: String,
}

/// One `num_ctx` value, validated; `None` for JSON `null`.
fn read(field: &'static str, value: &Value) -> Result<Option<u32>, BadNumCtx> {
    let bad = || BadNumCtx {
        field,
        got: value.to_string(),
    };
    let n = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(n), _) => n,
            (None, Some(f)) if f.fract() == 0.0 && f >= 1.0 && f <= MAX_NUM_CTX as f64 => f as u64,
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    if n == 0 || n > MAX_NUM_CTX {
        return Err(bad());
    }
    u32::try_from(n).map(Some).map_err(|_| bad())
}

/// The `num_ctx` a request body asks for (`num_ctx` or `options.num_ctx`; the larger when both
/// are set), `None` when it sets none.
///
/// # Errors
/// [`BadNumCtx`] naming the field when a value is negative, zero, not a whole number, not a
/// number, or above [`MAX_NUM_CTX`].
pub fn requested_num_ctx(body: &Value) -> Result<Option<u32>, BadNumCtx> {
    let top = match body.get("num_ctx") {
        Some(v) => read("num_ctx", v)?,
        None => None,
    };
    let nested = match body.get("options").and_then(|o| o.get("num_ctx")) {
        Some(v) => read("options.num_ctx", v)?,
        None => None,
    };
    Ok(top.max(nested))
}

/// The token count the scheduler routes a request by ([`gonka_core::RequestInfo::prompt_tokens`]):
/// the prompt estimate, or the requested `num_ctx` when larger and the mode routes by it (every
/// mode but `passthrough`), so that the model-aware policy's context fit prefers nodes whose
/// loaded context holds it.
pub fn routing_tokens(prompt_tokens: u32, num_ctx: Option<u32>, mode: ContextProtection) -> u32 {
    match (mode, num_ctx) {
        (ContextProtection::Passthrough, _) | (_, None) => prompt_tokens,
        (_, Some(n)) => prompt_tokens.max(n),
    }
}

/// What [`protect`] did with a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// The body sets no `num_ctx`.
    Absent,
    /// `num_ctx` was at or below the loaded context: removed from the body.
    Stripped {
        /// The value removed.
        num_ctx: u32,
    },
    /// Left in the body although it exceeds the node's loaded context (or the context is
    /// unknown): the engine may reload the model. Worth a warning.
    ReloadRisk {
        /// The requested value.
        num_ctx: u32,
        /// The node's loaded context (0: unknown).
        loaded: u32,
    },
    /// Left in the body and fine as it is (`warn` mode within the loaded context, or
    /// `passthrough`).
    Kept {
        /// The requested value.
        num_ctx: u32,
    },
}

/// Applies context protection to `body` for a node whose loaded context for the model is
/// `loaded_context` tokens (`None` or 0: unknown). `strip` removes a `num_ctx` (top-level and
/// `options.num_ctx`, and an `options` object left empty) the loaded context holds; `warn` and
/// `passthrough` never change the body. A `num_ctx` larger than the loaded context stays (the
/// router already preferred nodes whose context holds it; when none did, the engine decides).
///
/// # Errors
/// [`BadNumCtx`] as [`requested_num_ctx`]; the body is then unchanged.
pub fn protect(
    body: &mut Value,
    mode: ContextProtection,
    loaded_context: Option<u32>,
) -> Result<Protection, BadNumCtx> {
    let Some(num_ctx) = requested_num_ctx(body)? else {
        return Ok(Protection::Absent);
    };
    let loaded = loaded_context.unwrap_or(0);
    let fits = loaded > 0 && num_ctx <= loaded;
    Ok(match mode {
        ContextProtection::Passthrough => Protection::Kept { num_ctx },
        _ if !fits => Protection::ReloadRisk { num_ctx, loaded },
        ContextProtection::Warn => Protection::Kept { num_ctx },
        ContextProtection::Strip => {
            strip(body);
            Protection::Stripped { num_ctx }
        }
    })
}

/// Removes `num_ctx` and `options.num_ctx` (and `options` when that leaves it empty).
fn strip(body: &mut Value) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    obj.remove("num_ctx");
    let empty = match obj.get_mut("options").and_then(Value::as_object_mut) {
        Some(options) => {
            options.remove("num_ctx");
            options.is_empty()
        }
        None => false,
    };
    if empty {
        obj.remove("options");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn num_ctx_is_read_from_both_places_and_the_larger_wins() {
        assert_eq!(requested_num_ctx(&json!({"model": "m"})), Ok(None));
        assert_eq!(requested_num_ctx(&json!({"num_ctx": 4096})), Ok(Some(4096)));
        assert_eq!(
            requested_num_ctx(&json!({"options": {"num_ctx": 8192, "temperature": 0}})),
            Ok(Some(8192))
        );
        assert_eq!(
            requested_num_ctx(&json!({"num_ctx": 2048, "options": {"num_ctx": 8192}})),
            Ok(Some(8192))
        );
        assert_eq!(requested_num_ctx(&json!({"num_ctx": null})), Ok(None));
        assert_eq!(
            requested_num_ctx(&json!({"num_ctx": 4096.0})),
            Ok(Some(4096))
        );
    }

    #[test]
    fn absurd_values_name_the_field() {
        for (body, field) in [
            (json!({"num_ctx": -1}), "num_ctx"),
            (json!({"num_ctx": 0}), "num_ctx"),
            (json!({"num_ctx": 1.5}), "num_ctx"),
            (json!({"num_ctx": "4096"}), "num_ctx"),
            (json!({"num_ctx": true}), "num_ctx"),
            (
                json!({"options": {"num_ctx": 10_000_001}}),
                "options.num_ctx",
            ),
            (json!({"options": {"num_ctx": 1e300}}), "options.num_ctx"),
            (json!({"options": {"num_ctx": [1]}}), "options.num_ctx"),
        ] {
            let e = requested_num_ctx(&body).unwrap_err();
            assert_eq!(e.field, field, "{body}");
            assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
            let mut copy = body.clone();
            assert!(protect(&mut copy, ContextProtection::Passthrough, Some(1)).is_err());
            assert_eq!(copy, body, "a refused body is left as it was");
        }
        assert_eq!(
            requested_num_ctx(&json!({"num_ctx": MAX_NUM_CTX})),
            Ok(Some(10_000_000))
        );
    }

    #[test]
    fn strip_removes_a_num_ctx_the_loaded_context_holds() {
        let mut body = json!({"model": "m", "num_ctx": 4096, "options": {"num_ctx": 4096}});
        assert_eq!(
            protect(&mut body, ContextProtection::Strip, Some(8192)),
            Ok(Protection::Stripped { num_ctx: 4096 })
        );
        assert_eq!(body, json!({"model": "m"}));
        // Equal to the loaded context: stripped; other options stay.
        let mut body = json!({"options": {"num_ctx": 8192, "temperature": 0.2}});
        assert_eq!(
            protect(&mut body, ContextProtection::Strip, Some(8192)),
            Ok(Protection::Stripped { num_ctx: 8192 })
        );
        assert_eq!(body, json!({"options": {"temperature": 0.2}}));
    }

    #[test]
    fn strip_keeps_a_num_ctx_larger_than_the_loaded_context_or_when_it_is_unknown() {
        for loaded in [Some(2048), Some(0), None] {
            let mut body = json!({"num_ctx": 4096});
            assert_eq!(
                protect(&mut body, ContextProtection::Strip, loaded),
                Ok(Protection::ReloadRisk {
                    num_ctx: 4096,
                    loaded: loaded.unwrap_or(0)
                })
            );
            assert_eq!(body, json!({"num_ctx": 4096}));
        }
    }

    #[test]
    fn warn_never_changes_the_body_but_reports_the_reload_risk() {
        let mut body = json!({"options": {"num_ctx": 4096}});
        assert_eq!(
            protect(&mut body, ContextProtection::Warn, Some(8192)),
            Ok(Protection::Kept { num_ctx: 4096 })
        );
        assert_eq!(
            protect(&mut body, ContextProtection::Warn, Some(2048)),
            Ok(Protection::ReloadRisk {
                num_ctx: 4096,
                loaded: 2048
            })
        );
        assert_eq!(body, json!({"options": {"num_ctx": 4096}}));
    }

    #[test]
    fn passthrough_keeps_everything_and_does_not_route_by_num_ctx() {
        let mut body = json!({"num_ctx": 4096});
        assert_eq!(
            protect(&mut body, ContextProtection::Passthrough, Some(8192)),
            Ok(Protection::Kept { num_ctx: 4096 })
        );
        assert_eq!(body, json!({"num_ctx": 4096}));
        assert_eq!(
            routing_tokens(100, Some(4096), ContextProtection::Passthrough),
            100
        );
        assert_eq!(
            routing_tokens(100, Some(4096), ContextProtection::Strip),
            4096
        );
        assert_eq!(
            routing_tokens(100, Some(4096), ContextProtection::Warn),
            4096
        );
        assert_eq!(
            routing_tokens(9000, Some(4096), ContextProtection::Strip),
            9000
        );
        assert_eq!(routing_tokens(100, None, ContextProtection::Strip), 100);
        assert_eq!(
            protect(&mut json!({}), ContextProtection::Strip, Some(1)),
            Ok(Protection::Absent)
        );
    }

    #[test]
    fn modes_parse_from_their_flag_spelling() {
        for mode in [
            ContextProtection::Strip,
            ContextProtection::Warn,
            ContextProtection::Passthrough,
        ] {
            assert_eq!(mode.to_string().parse::<ContextProtection>(), Ok(mode));
        }
        assert_eq!(" WARN ".parse(), Ok(ContextProtection::Warn));
        assert!("drop"
            .parse::<ContextProtection>()
            .unwrap_err()
            .to_string()
            .contains("strip"));
        assert_eq!(ContextProtection::default(), ContextProtection::Strip);
    }
}
