//! `POST /api/generate`: Ollama's completion request. A prompt (with `system` and `images`) is
//! sent as a chat (`/v1/chat/completions`: the engine applies the model's template, as Ollama
//! does); a `raw` prompt or one with a `suffix` (fill-in-the-middle) as a plain completion
//! (`/v1/completions`). Answered in Ollama's shape by [`super::relay`].

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::error::OllamaError;
use super::fields;
use super::request::{common, content_with_images, Shape, Translated};
use crate::server::AppState;

/// `POST /api/generate`, streamed as NDJSON lines unless `"stream": false`.
pub async fn generate(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    super::relay::handle(&state, headers, body, translate).await
}

/// The OpenAI request for an Ollama generate request. `template` and `context` (Ollama's own
/// prompt template and token context) are accepted and not used.
///
/// # Errors
/// 400 naming the field that is missing or of the wrong type.
pub fn translate(map: &Map<String, Value>) -> Result<Translated, OllamaError> {
    let mut c = common(map)?;
    let prompt = fields::string(map, "prompt", "prompt")?.unwrap_or("");
    let system = fields::string(map, "system", "system")?;
    let suffix = fields::string(map, "suffix", "suffix")?.filter(|s| !s.is_empty());
    let raw = fields::boolean(map, "raw", "raw")?.unwrap_or(false);
    let images = fields::strings(map, "images", "images")?.unwrap_or_default();
    fields::string(map, "template", "template")?;
    if let Some(context) = fields::get(map, "context") {
        if !context.is_array() {
            return Err(fields::wrong("context", "a list of token ids", context));
        }
    }
    let load_only = prompt.is_empty() && suffix.is_none() && images.is_empty();
    let path = if raw || suffix.is_some() {
        if !images.is_empty() {
            return Err(OllamaError::bad_request(
                "images need the model's template: they cannot be sent with raw or suffix",
            ));
        }
        let prompt = match (raw, system) {
            (false, Some(system)) if !system.is_empty() => format!("{system}\n\n{prompt}"),
            _ => prompt.to_owned(),
        };
        c.body.insert("prompt".into(), json!(prompt));
        if let Some(suffix) = suffix {
            c.body.insert("suffix".into(), json!(suffix));
        }
        "/v1/completions"
    } else {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system.filter(|s| !s.is_empty()) {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": content_with_images(prompt, &images)}));
        c.body.insert("messages".into(), Value::Array(messages));
        "/v1/chat/completions"
    };
    Ok(Translated {
        model: c.model,
        path,
        body: c.body,
        stream: c.stream,
        routing: c.routing,
        shape: Shape::Generate,
        load_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tr(v: Value) -> Result<Translated, OllamaError> {
        translate(v.as_object().unwrap())
    }

    #[test]
    fn a_prompt_is_a_chat_and_a_raw_prompt_a_completion() {
        let t = tr(json!({"model": "m", "prompt": "why?", "system": "be brief",
            "options": {"seed": 3}}))
        .unwrap();
        assert_eq!(t.path, "/v1/chat/completions");
        assert_eq!(t.shape, Shape::Generate);
        assert!(t.stream);
        assert_eq!(
            t.body["messages"],
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "why?"}])
        );
        assert_eq!(t.body["seed"], 3);
        let t =
            tr(json!({"model": "m", "prompt": "[INST] hi", "raw": true, "stream": false})).unwrap();
        assert_eq!(t.path, "/v1/completions");
        assert_eq!(t.body["prompt"], "[INST] hi");
        assert!(!t.body.contains_key("messages"));
        let t = tr(json!({"model": "m", "prompt": "def f(", "suffix": "return x"})).unwrap();
        assert_eq!(t.path, "/v1/completions");
        assert_eq!(t.body["suffix"], "return x");
    }

    #[test]
    fn an_empty_prompt_is_a_load_request() {
        assert!(tr(json!({"model": "m"})).unwrap().load_only);
        assert!(tr(json!({"model": "m", "prompt": ""})).unwrap().load_only);
        assert!(!tr(json!({"model": "m", "prompt": "x"})).unwrap().load_only);
    }

    #[test]
    fn malformed_fields_are_named() {
        for (body, field) in [
            (json!({"model": "m", "prompt": 3}), "prompt"),
            (json!({"model": "m", "prompt": "x", "raw": "yes"}), "raw"),
            (
                json!({"model": "m", "prompt": "x", "context": "abc"}),
                "context",
            ),
            (
                json!({"model": "m", "prompt": "x", "options": {"top_k": "x"}}),
                "options.top_k",
            ),
            (
                json!({"model": "m", "prompt": "x", "keep_alive": [1]}),
                "keep_alive",
            ),
        ] {
            let e = tr(body).unwrap_err();
            assert!(e.message.contains(field), "{field}: {}", e.message);
        }
    }

    proptest! {
        #[test]
        fn any_prompt_round_trips_into_the_user_message(prompt in ".{1,64}", system in proptest::option::of(".{1,16}")) {
            let t = tr(json!({"model": "m", "prompt": prompt, "system": system})).unwrap();
            let messages = t.body["messages"].as_array().unwrap();
            prop_assert_eq!(&messages[messages.len() - 1]["content"], &json!(prompt));
            prop_assert_eq!(messages.len(), if system.is_some() { 2 } else { 1 });
        }
    }
}
