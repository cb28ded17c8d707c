//! Ollama's `options`, `format`, `keep_alive` and `think`, checked and mapped onto the fields of
//! an OpenAI request body. A value of the wrong type or out of range is a 400 naming the field;
//! options that tune how an engine loads a model (`num_gpu`, `num_thread`, ...) are accepted and
//! ignored (the fleet's operator sets those), as are options Ollama does not know.

use serde_json::{json, Map, Value};

use super::error::OllamaError;
use super::fields::{self, wrong};

/// Largest `options.num_ctx` accepted ([`crate::context::MAX_NUM_CTX`], 10 M tokens), far
/// beyond any model's context window. A larger one is a client error, not a routing question.
pub const MAX_NUM_CTX: u64 = crate::context::MAX_NUM_CTX;

/// What the mapping kept for routing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Routing {
    /// `options.num_ctx`, when given: the context window the client asks for.
    pub num_ctx: Option<u32>,
}

/// Maps `options` (absent, `null` or an object) onto `out`, an OpenAI request body.
///
/// | Ollama | OpenAI |
/// |---|---|
/// | `temperature`, `top_p`, `seed`, `presence_penalty`, `frequency_penalty`, `stop` | same name |
/// | `num_predict` > 0 | `max_tokens` (-1 and -2, no limit, send none) |
/// | `top_k` (0 = off), `min_p`, `repeat_penalty` | `top_k`, `min_p`, `repetition_penalty` (vLLM, SGLang, llama.cpp) |
/// | `num_ctx` | kept in [`Routing::num_ctx`]; the relay hands it to the proxy's context protection |
///
/// # Errors
/// 400 naming the option when it has the wrong type or is out of range.
pub fn apply(
    options: Option<&Value>,
    out: &mut Map<String, Value>,
) -> Result<Routing, OllamaError> {
    let o = match options {
        None | Some(Value::Null) => return Ok(Routing::default()),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(wrong("options", "an object", other)),
    };
    let num = |name: &str| fields::number(o, name, &format!("options.{name}"));
    let int = |name: &str| fields::integer(o, name, &format!("options.{name}"));
    let out_of_range = |name: &str, rule: &str, v: &dyn std::fmt::Display| {
        OllamaError::bad_request(format!("invalid options.{name}: must be {rule}, got {v}"))
    };
    if let Some(t) = num("temperature")? {
        if t < 0.0 {
            return Err(out_of_range("temperature", "0 or more", &t));
        }
        out.insert("temperature".into(), json!(t));
    }
    if let Some(p) = num("top_p")? {
        if !(0.0..=1.0).contains(&p) {
            return Err(out_of_range("top_p", "between 0 and 1", &p));
        }
        out.insert("top_p".into(), json!(p));
    }
    if let Some(p) = num("min_p")? {
        if !(0.0..=1.0).contains(&p) {
            return Err(out_of_range("min_p", "between 0 and 1", &p));
        }
        out.insert("min_p".into(), json!(p));
    }
    if let Some(k) = int("top_k")? {
        if k < 0 {
            return Err(out_of_range("top_k", "0 (off) or more", &k));
        }
        if k > 0 {
            out.insert("top_k".into(), json!(k));
        }
    }
    if let Some(seed) = int("seed")? {
        out.insert("seed".into(), json!(seed));
    }
    for name in ["presence_penalty", "frequency_penalty"] {
        if let Some(p) = num(name)? {
            out.insert(name.into(), json!(p));
        }
    }
    if let Some(p) = num("repeat_penalty")? {
        if p <= 0.0 {
            return Err(out_of_range("repeat_penalty", "more than 0", &p));
        }
        out.insert("repetition_penalty".into(), json!(p));
    }
    if let Some(n) = int("num_predict")? {
        match n {
            -2 | -1 => {}
            n if n > 0 => {
                out.insert("max_tokens".into(), json!(n));
            }
            n => {
                return Err(out_of_range(
                    "num_predict",
                    "a positive number of tokens, -1 (no limit) or -2 (fill the context)",
                    &n,
                ))
            }
        }
    }
    if let Some(stop) = fields::strings(o, "stop", "options.stop")? {
        if !stop.is_empty() {
            out.insert("stop".into(), json!(stop));
        }
    }
    // The context protection's own check (one rule for /v1 and /api): a whole number of
    // tokens in 1..=MAX_NUM_CTX.
    let num_ctx = crate::context::requested_num_ctx(&json!({ "options": o }))
        .map_err(|e| OllamaError::bad_request(e.to_string()))?;
    Ok(Routing { num_ctx })
}

/// Maps `format` onto `response_format`: `"json"` asks for a JSON object, a JSON schema object
/// for output following that schema (`json_schema`), `""` or absent for free text.
///
/// # Errors
/// 400 naming `format` for anything else.
pub fn format(map: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), OllamaError> {
    match fields::get(map, "format") {
        None => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(Value::String(s)) if s == "json" => {
            out.insert("response_format".into(), json!({"type": "json_object"}));
            Ok(())
        }
        Some(schema @ Value::Object(_)) => {
            out.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": {"name": "format", "schema": schema}}),
            );
            Ok(())
        }
        Some(other) => Err(wrong("format", "\"json\" or a JSON schema object", other)),
    }
}

/// Checks `keep_alive` (a number of seconds, or a duration such as `"5m"`, `"1h30m"`, `"-1"`).
/// It is accepted and not acted on: which models stay loaded is the fleet's decision.
///
/// # Errors
/// 400 naming `keep_alive` when it is neither.
pub fn keep_alive(map: &Map<String, Value>) -> Result<(), OllamaError> {
    match fields::get(map, "keep_alive") {
        None => Ok(()),
        Some(Value::Number(_)) => Ok(()),
        Some(Value::String(s)) if is_duration(s) => Ok(()),
        Some(other) => Err(wrong(
            "keep_alive",
            "a number of seconds or a duration such as \"5m\"",
            other,
        )),
    }
}

/// Maps `think` (chat, generate): `true`/`false` turn a reasoning model's thinking on or off
/// (`chat_template_kwargs.enable_thinking`, as Qwen3 and others read it), `"low"`, `"medium"`,
/// `"high"` set `reasoning_effort`.
///
/// # Errors
/// 400 naming `think` for anything else.
pub fn think(map: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), OllamaError> {
    match fields::get(map, "think") {
        None => Ok(()),
        Some(Value::Bool(b)) => {
            out.insert(
                "chat_template_kwargs".into(),
                json!({ "enable_thinking": b }),
            );
            Ok(())
        }
        Some(Value::String(s)) if matches!(s.as_str(), "low" | "medium" | "high") => {
            out.insert("reasoning_effort".into(), json!(s));
            Ok(())
        }
        Some(other) => Err(wrong(
            "think",
            "true, false, \"low\", \"medium\" or \"high\"",
            other,
        )),
    }
}

/// Whether `s` is a number or a Go duration (`300`, `-1`, `5m`, `1h30m`, `2.5s`).
fn is_duration(s: &str) -> bool {
    let s = s.trim();
    let body = s.strip_prefix('-').unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    if body.parse::<f64>().is_ok_and(f64::is_finite) {
        return true;
    }
    let mut rest = body;
    // Each turn takes one `<number><unit>` part; bounded by the string's length.
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || rest[..digits].parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[digits..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| rest.starts_with(**u));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mapped(options: Value) -> Result<(Map<String, Value>, Routing), OllamaError> {
        let mut out = Map::new();
        let routing = apply(Some(&options), &mut out)?;
        Ok((out, routing))
    }

    #[test]
    fn sampling_options_map_to_openai_fields() {
        let (out, routing) = mapped(json!({
            "temperature": 0.2, "top_p": 0.9, "top_k": 40, "seed": 7, "num_predict": 64,
            "stop": ["\n\n"], "repeat_penalty": 1.1, "num_ctx": 8192, "num_gpu": 99
        }))
        .unwrap();
        assert_eq!(
            Value::Object(out),
            json!({"temperature": 0.2, "top_p": 0.9, "top_k": 40, "seed": 7, "max_tokens": 64,
                "stop": ["\n\n"], "repetition_penalty": 1.1})
        );
        assert_eq!(routing.num_ctx, Some(8192));
    }

    #[test]
    fn no_limit_and_off_values_send_nothing() {
        let (out, _) = mapped(json!({"num_predict": -1, "top_k": 0, "stop": []})).unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(apply(None, &mut Map::new()).unwrap(), Routing::default());
    }

    #[test]
    fn bad_options_are_400_naming_the_option() {
        let cases = [
            (json!({"temperature": "hot"}), "options.temperature"),
            (json!({"top_p": 3}), "options.top_p"),
            (json!({"num_predict": 0}), "options.num_predict"),
            (json!({"num_ctx": 0}), "options.num_ctx"),
            (json!({"num_ctx": 1_000_000_000_000_i64}), "options.num_ctx"),
            (json!({"num_ctx": -4096}), "options.num_ctx"),
            (json!({"stop": 5}), "options.stop"),
            (json!({"seed": 1.5}), "options.seed"),
            (json!([1, 2]), "options"),
        ];
        for (options, field) in cases {
            let e = mapped(options.clone()).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(e.message.contains(field), "{options}: {}", e.message);
        }
    }

    #[test]
    fn format_keep_alive_and_think() {
        let mut out = Map::new();
        format(json!({"format": "json"}).as_object().unwrap(), &mut out).unwrap();
        assert_eq!(out["response_format"], json!({"type": "json_object"}));
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        format(json!({"format": schema}).as_object().unwrap(), &mut out).unwrap();
        assert_eq!(out["response_format"]["json_schema"]["schema"], schema);
        assert!(format(json!({"format": "yaml"}).as_object().unwrap(), &mut out).is_err());
        for ok in [
            json!(300),
            json!("5m"),
            json!("1h30m"),
            json!("-1"),
            json!("0"),
            json!("2.5s"),
        ] {
            keep_alive(json!({"keep_alive": ok}).as_object().unwrap()).unwrap();
        }
        for bad in [json!("forever"), json!(true), json!("5x"), json!("")] {
            let e = keep_alive(json!({"keep_alive": bad}).as_object().unwrap()).unwrap_err();
            assert!(e.message.contains("keep_alive"));
        }
        think(json!({"think": false}).as_object().unwrap(), &mut out).unwrap();
        assert_eq!(
            out["chat_template_kwargs"],
            json!({"enable_thinking": false})
        );
        assert!(think(json!({"think": 2}).as_object().unwrap(), &mut out).is_err());
    }

    proptest! {
        #[test]
        fn any_options_object_maps_or_names_an_option(
            entries in proptest::collection::btree_map(
                prop_oneof![
                    Just("temperature".to_owned()), Just("top_p".to_owned()),
                    Just("top_k".to_owned()), Just("seed".to_owned()),
                    Just("num_predict".to_owned()), Just("num_ctx".to_owned()),
                    Just("stop".to_owned()), Just("min_p".to_owned()), "[a-z_]{1,12}",
                ],
                prop_oneof![
                    any::<i64>().prop_map(|i| json!(i)),
                    any::<f64>().prop_map(|f| json!(f)),
                    ".{0,8}".prop_map(|s| json!(s)),
                    any::<bool>().prop_map(|b| json!(b)),
                    Just(Value::Null),
                    proptest::collection::vec(".{0,4}", 0..3).prop_map(|v| json!(v)),
                ],
                0..8,
            )
        ) {
            let options: Map<String, Value> = entries.into_iter().collect();
            let mut out = Map::new();
            match apply(Some(&Value::Object(options)), &mut out) {
                Ok(routing) => {
                    if let Some(n) = routing.num_ctx {
                        prop_assert!(n >= 1 && u64::from(n) <= MAX_NUM_CTX);
                    }
                    if let Some(m) = out.get("max_tokens") {
                        prop_assert!(m.as_i64().is_some_and(|m| m > 0));
                    }
                    prop_assert!(!out.contains_key("num_ctx"));
                }
                Err(e) => {
                    prop_assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
                    prop_assert!(e.message.starts_with("invalid options") || e.message.starts_with("`options.num_ctx`"), "{}", e.message);
                }
            }
        }

        #[test]
        fn durations_never_panic(s in ".{0,12}") {
            let _ = is_duration(&s);
        }
    }
}
