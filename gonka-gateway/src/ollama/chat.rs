//! `POST /api/chat`: Ollama's chat request mapped onto `/v1/chat/completions` (messages with
//! their images and tool calls, tools, options), answered in Ollama's shape by
//! [`super::relay`].

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::error::OllamaError;
use super::fields::{self, wrong};
use super::request::{common, content_with_images, Shape, Translated};
use crate::server::AppState;

/// `POST /api/chat`, streamed as NDJSON lines unless `"stream": false`.
pub async fn chat(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    super::relay::handle(&state, headers, body, translate).await
}

/// The OpenAI chat request for an Ollama chat request.
///
/// # Errors
/// 400 naming the field that is missing or of the wrong type.
pub fn translate(map: &Map<String, Value>) -> Result<Translated, OllamaError> {
    let mut c = common(map)?;
    let messages = match fields::get(map, "messages") {
        None => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => return Err(wrong("messages", "a list of messages", other)),
    };
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        out.push(message(i, m, &mut pending)?);
    }
    match fields::get(map, "tools") {
        None => {}
        Some(Value::Array(tools)) if tools.is_empty() => {}
        Some(tools @ Value::Array(_)) => {
            c.body.insert("tools".into(), tools.clone());
        }
        Some(other) => return Err(wrong("tools", "a list of tools", other)),
    }
    let load_only = out.is_empty();
    c.body.insert("messages".into(), Value::Array(out));
    Ok(Translated {
        model: c.model,
        path: "/v1/chat/completions",
        body: c.body,
        stream: c.stream,
        routing: c.routing,
        shape: Shape::Chat,
        load_only,
    })
}

/// One Ollama message as OpenAI's. `pending` holds the tool calls of the last assistant message
/// not answered yet (`(id, function name)`): an Ollama tool message names the function
/// (`tool_name`), OpenAI's names the call (`tool_call_id`).
fn message(i: usize, m: &Value, pending: &mut Vec<(String, String)>) -> Result<Value, OllamaError> {
    let path = format!("messages[{i}]");
    let Value::Object(m) = m else {
        return Err(wrong(&path, "an object with role and content", m));
    };
    let role = fields::string(m, "role", &format!("{path}.role"))?
        .ok_or_else(|| OllamaError::bad_request(format!("{path}.role is required")))?;
    let content = fields::string(m, "content", &format!("{path}.content"))?.unwrap_or("");
    let images = fields::strings(m, "images", &format!("{path}.images"))?.unwrap_or_default();
    let mut out = Map::new();
    out.insert("role".into(), json!(role));
    out.insert("content".into(), content_with_images(content, &images));
    match role {
        "assistant" => {
            let calls = tool_calls(i, m, &path)?;
            if !calls.is_empty() {
                pending.clear();
                for call in &calls {
                    let id = call["id"].as_str().unwrap_or_default().to_owned();
                    let name = call["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    pending.push((id, name));
                }
                out.insert("tool_calls".into(), Value::Array(calls));
            }
        }
        "tool" => {
            let id = match fields::string(m, "tool_call_id", &format!("{path}.tool_call_id"))? {
                Some(id) => id.to_owned(),
                None => {
                    let name = fields::string(m, "tool_name", &format!("{path}.tool_name"))?;
                    let at = pending
                        .iter()
                        .position(|(_, n)| name.is_none_or(|name| name == n))
                        .unwrap_or(0);
                    if at < pending.len() {
                        pending.remove(at).0
                    } else {
                        format!("call_{i}")
                    }
                }
            };
            out.insert("tool_call_id".into(), json!(id));
        }
        _ => {}
    }
    Ok(Value::Object(out))
}

/// An assistant message's Ollama tool calls (`function.arguments` an object) as OpenAI's
/// (`id`, `type`, `function.arguments` a JSON string).
fn tool_calls(i: usize, m: &Map<String, Value>, path: &str) -> Result<Vec<Value>, OllamaError> {
    let calls = match fields::get(m, "tool_calls") {
        None => return Ok(Vec::new()),
        Some(Value::Array(calls)) => calls,
        Some(other) => return Err(wrong(&format!("{path}.tool_calls"), "a list", other)),
    };
    calls
        .iter()
        .enumerate()
        .map(|(k, call)| {
            let call_path = format!("{path}.tool_calls[{k}]");
            let function = call
                .get("function")
                .and_then(Value::as_object)
                .ok_or_else(|| wrong(&call_path, "an object with a function", call))?;
            let name = fields::string(function, "name", &format!("{call_path}.function.name"))?
                .unwrap_or_default();
            let arguments = match fields::get(function, "arguments") {
                None => "{}".to_owned(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{i}_{k}"), str::to_owned);
            Ok(json!({"id": id, "type": "function",
                "function": {"name": name, "arguments": arguments}}))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tr(v: Value) -> Result<Translated, OllamaError> {
        translate(v.as_object().unwrap())
    }

    #[test]
    fn a_chat_becomes_an_openai_chat_with_its_options() {
        let t = tr(json!({
            "model": "llama3.2", "stream": false, "keep_alive": "5m",
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hi", "images": ["iVBORw0KGgo="]}],
            "options": {"temperature": 0, "num_predict": 5, "num_ctx": 4096},
            "format": "json"
        }))
        .unwrap();
        assert_eq!(t.path, "/v1/chat/completions");
        assert_eq!(t.shape, Shape::Chat);
        assert!(!t.stream && !t.load_only);
        assert_eq!(t.routing.num_ctx, Some(4096));
        assert_eq!(
            Value::Object(t.body),
            json!({"model": "llama3.2", "stream": false, "temperature": 0.0, "max_tokens": 5,
                "response_format": {"type": "json_object"},
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]})
        );
    }

    #[test]
    fn tool_calls_and_tool_answers_are_linked_by_id() {
        let t = tr(json!({"model": "m", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "tool_name": "get_weather", "content": "sunny"}],
            "tools": [{"type": "function", "function": {"name": "get_weather"}}]}))
        .unwrap();
        let messages = t.body["messages"].as_array().unwrap();
        let call = &messages[1]["tool_calls"][0];
        assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
        assert_eq!(messages[2]["tool_call_id"], call["id"]);
        assert_eq!(t.body["tools"][0]["function"]["name"], "get_weather");
    }

    #[test]
    fn no_messages_is_a_load_request() {
        assert!(tr(json!({"model": "m"})).unwrap().load_only);
        assert!(tr(json!({"model": "m", "messages": []})).unwrap().load_only);
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let e = tr(json!({"model": "m", "messages": "hi"})).unwrap_err();
        assert!(e.message.contains("messages"), "{}", e.message);
        let e = tr(json!({"model": "m", "messages": [{"content": "x"}]})).unwrap_err();
        assert_eq!(e.message, "messages[0].role is required");
        let e =
            tr(json!({"model": "m", "messages": [{"role": "user", "content": 5}]})).unwrap_err();
        assert!(e.message.contains("messages[0].content"), "{}", e.message);
        let e = tr(json!({"messages": []})).unwrap_err();
        assert_eq!(e.message, "model is required");
    }

    proptest! {
        /// Whatever JSON a client sends, the translation either names a field in a 400 or
        /// gives a chat request for the same model with one message per Ollama message.
        #[test]
        fn any_chat_body_translates_or_is_a_named_400(
            model in prop_oneof![Just(Value::Null), ".{0,6}".prop_map(Value::from), any::<i32>().prop_map(Value::from)],
            roles in proptest::collection::vec(prop_oneof![Just(json!("user")), Just(json!("assistant")), Just(json!("tool")), Just(json!(1)), Just(Value::Null)], 0..4),
            contents in proptest::collection::vec(prop_oneof![".{0,6}".prop_map(Value::from), Just(json!(["x"])), Just(Value::Null)], 4),
            stream in prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::from), Just(json!("no"))],
        ) {
            let messages: Vec<Value> = roles.iter().zip(&contents)
                .map(|(r, c)| json!({"role": r, "content": c}))
                .collect();
            let n = messages.len();
            let body = json!({"model": model, "messages": messages, "stream": stream});
            match tr(body) {
                Ok(t) => {
                    prop_assert_eq!(&t.body["model"], &json!(t.model));
                    prop_assert_eq!(t.body["messages"].as_array().map(Vec::len), Some(n));
                    prop_assert_eq!(t.load_only, n == 0);
                }
                Err(e) => {
                    prop_assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
                    prop_assert!(
                        e.message.contains("model") || e.message.contains("messages[") || e.message.contains("stream"),
                        "{}", e.message
                    );
                }
            }
        }
    }
}
