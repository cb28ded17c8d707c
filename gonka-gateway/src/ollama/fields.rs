//! Typed reads of an Ollama request's JSON fields; a wrong type is a 400 naming the field (its
//! path, e.g. `options.top_k` or `messages[2].content`) and what it must be.

use serde_json::{Map, Value};

use super::error::OllamaError;

/// The request body as a JSON object.
///
/// # Errors
/// 400 when the body is not JSON or not an object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, OllamaError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(OllamaError::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(OllamaError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// `model`: a non-empty string (`name` is accepted too, as older clients send it).
///
/// # Errors
/// 400 when it is missing, empty or not a string.
pub fn model(map: &Map<String, Value>) -> Result<String, OllamaError> {
    let value = map.get("model").or_else(|| map.get("name"));
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            Err(OllamaError::bad_request("model is required"))
        }
        Some(other) => Err(wrong("model", "a string", other)),
    }
}

/// The field `name` of `map` at `path` (for messages), `None` when absent or `null`.
pub fn get<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).filter(|v| !v.is_null())
}

/// A string field, `None` when absent or `null`.
///
/// # Errors
/// 400 naming `path` when it is not a string.
pub fn string<'a>(
    map: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<&'a str>, OllamaError> {
    match get(map, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong(path, "a string", other)),
    }
}

/// A boolean field, `None` when absent or `null`.
///
/// # Errors
/// 400 naming `path` when it is not a boolean.
pub fn boolean(
    map: &Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<bool>, OllamaError> {
    match get(map, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong(path, "true or false", other)),
    }
}

/// A finite number field, `None` when absent or `null`.
///
/// # Errors
/// 400 naming `path` when it is not a number.
pub fn number(
    map: &Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<f64>, OllamaError> {
    match get(map, name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| wrong(path, "a number", v)),
    }
}

/// A whole-number field, `None` when absent or `null` (`3.0` counts as 3, as Ollama's Go decoder
/// takes it).
///
/// # Errors
/// 400 naming `path` when it is not a whole number.
pub fn integer(
    map: &Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<i64>, OllamaError> {
    match get(map, name) {
        None => Ok(None),
        Some(v) => whole(v)
            .map(Some)
            .ok_or_else(|| wrong(path, "a whole number", v)),
    }
}

fn whole(v: &Value) -> Option<i64> {
    if let Some(i) = v.as_i64() {
        return Some(i);
    }
    let x = v.as_f64()?;
    // Bounded by i64's range; `as` would saturate silently.
    (x.fract() == 0.0 && x.abs() < 9.0e18).then_some(x as i64)
}

/// A list of strings (a single string counts as a list of one), `None` when absent or `null`.
///
/// # Errors
/// 400 naming `path` (and the item) when it is neither.
pub fn strings(
    map: &Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<Option<Vec<String>>, OllamaError> {
    match get(map, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(wrong(&format!("{path}[{i}]"), "a string", other)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(wrong(path, "a list of strings", other)),
    }
}

/// 400: `path` must be `what`, with the value it had (shortened).
pub fn wrong(path: &str, what: &str, got: &Value) -> OllamaError {
    let mut shown = got.to_string();
    if shown.len() > 40 {
        let mut cut = 40;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push('…');
    }
    OllamaError::bad_request(format!("invalid {path}: must be {what}, got {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn wrong_types_name_the_field_and_the_value() {
        let m = map(json!({"top_k": "many", "t": 0.5, "s": ["a", 3]}));
        let e = integer(&m, "top_k", "options.top_k").unwrap_err();
        assert_eq!(
            e.message,
            "invalid options.top_k: must be a whole number, got \"many\""
        );
        assert_eq!(number(&m, "t", "t").unwrap(), Some(0.5));
        let e = strings(&m, "s", "options.stop").unwrap_err();
        assert!(e.message.contains("options.stop[1]"), "{}", e.message);
    }

    #[test]
    fn whole_floats_count_and_null_is_absent() {
        let m = map(json!({"n": 3.0, "f": 2.5, "z": null}));
        assert_eq!(integer(&m, "n", "n").unwrap(), Some(3));
        assert!(integer(&m, "f", "f").is_err());
        assert_eq!(integer(&m, "z", "z").unwrap(), None);
    }

    #[test]
    fn the_model_is_required_and_a_body_must_be_an_object() {
        assert_eq!(model(&map(json!({"model": "m"}))).unwrap(), "m");
        assert_eq!(model(&map(json!({"name": "m"}))).unwrap(), "m");
        assert_eq!(
            model(&map(json!({"model": " "}))).unwrap_err().message,
            "model is required"
        );
        assert!(object(b"[1]").unwrap_err().message.contains("JSON object"));
        assert!(object(b"{nope")
            .unwrap_err()
            .message
            .contains("not valid JSON"));
    }

    #[test]
    fn long_values_are_shortened_on_a_char_boundary() {
        let e = wrong("p", "x", &json!("é".repeat(50)));
        assert!(e.message.ends_with('…'));
    }
}
