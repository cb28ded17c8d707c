//! What the Ollama chat and generate requests become: an OpenAI request (path and body) for the
//! proxy, plus what the answer's translation and routing need.

use serde_json::{json, Map, Value};

use super::error::OllamaError;
use super::fields;
use super::options::{self, Routing};

/// Which Ollama answer shape a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `/api/chat`: the text in `message.content`.
    Chat,
    /// `/api/generate`: the text in `response`.
    Generate,
}

/// An Ollama request translated to OpenAI's.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The model as the client named it (echoed in every answer line).
    pub model: String,
    /// The OpenAI path to forward to (`/v1/chat/completions` or `/v1/completions`).
    pub path: &'static str,
    /// The OpenAI request body.
    pub body: Map<String, Value>,
    /// Whether the client wants NDJSON lines (Ollama's default) or one document.
    pub stream: bool,
    /// What the options ask of routing (`num_ctx`).
    pub routing: Routing,
    /// The answer's shape.
    pub shape: Shape,
    /// Nothing to generate (no messages, empty prompt): Ollama's "load the model" request,
    /// answered at once with `done_reason: "load"`.
    pub load_only: bool,
}

/// The parts chat and generate share: `model`, `stream` (default `true`), `options`,
/// `format`, `keep_alive`, `think`, mapped into a new OpenAI body.
#[derive(Debug)]
pub(super) struct Common {
    pub model: String,
    pub stream: bool,
    pub routing: Routing,
    pub body: Map<String, Value>,
}

pub(super) fn common(map: &Map<String, Value>) -> Result<Common, OllamaError> {
    let model = fields::model(map)?;
    let stream = fields::boolean(map, "stream", "stream")?.unwrap_or(true);
    let mut body = Map::new();
    let routing = options::apply(map.get("options"), &mut body)?;
    options::format(map, &mut body)?;
    options::keep_alive(map)?;
    options::think(map, &mut body)?;
    body.insert("model".into(), json!(model));
    body.insert("stream".into(), json!(stream));
    if stream {
        // Token counts for the last line (`eval_count`, `prompt_eval_count`).
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(Common {
        model,
        stream,
        routing,
        body,
    })
}

/// OpenAI content for a text with Ollama `images` (base64, no data-URL prefix): the text alone,
/// or text and `image_url` parts with data URLs.
pub(super) fn content_with_images(text: &str, images: &[String]) -> Value {
    if images.is_empty() {
        return json!(text);
    }
    let mut parts = vec![json!({"type": "text", "text": text})];
    for image in images {
        let url = if image.starts_with("data:") {
            image.clone()
        } else {
            format!("data:{};base64,{image}", image_type(image))
        };
        parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
    }
    Value::Array(parts)
}

/// The media type of a base64 image from its first bytes (PNG when unknown).
fn image_type(base64: &str) -> &'static str {
    if base64.starts_with("/9j/") {
        "image/jpeg"
    } else if base64.starts_with("R0lGOD") {
        "image/gif"
    } else if base64.starts_with("UklGR") {
        "image/webp"
    } else {
        "image/png"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_is_the_default_and_asks_for_usage() {
        let map = json!({"model": "m"}).as_object().unwrap().clone();
        let c = common(&map).unwrap();
        assert!(c.stream);
        assert_eq!(c.body["stream_options"], json!({"include_usage": true}));
        let map = json!({"model": "m", "stream": false})
            .as_object()
            .unwrap()
            .clone();
        let c = common(&map).unwrap();
        assert!(!c.stream);
        assert!(!c.body.contains_key("stream_options"));
        let map = json!({"model": "m", "stream": "yes"})
            .as_object()
            .unwrap()
            .clone();
        assert!(common(&map).unwrap_err().message.contains("stream"));
    }

    #[test]
    fn images_become_data_urls() {
        let v = content_with_images("what is it", &["/9j/4AAQ".into(), "iVBORw0".into()]);
        assert_eq!(v[1]["image_url"]["url"], "data:image/jpeg;base64,/9j/4AAQ");
        assert_eq!(v[2]["image_url"]["url"], "data:image/png;base64,iVBORw0");
        assert_eq!(content_with_images("t", &[]), json!("t"));
    }
}
