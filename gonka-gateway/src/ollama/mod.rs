//! Ollama's native API on the public listener, for the tools that speak it (the `ollama`
//! clients, editors, chat front-ends): `POST /api/chat`, `POST /api/generate`,
//! `POST /api/embed` (and the older `/api/embeddings`), `GET /api/tags`, `GET /api/ps`,
//! `POST /api/show`, `GET /api/version`, and `GET`/`HEAD /` ("Ollama is running", the
//! clients' probe).
//!
//! Requests are translated to OpenAI's shape and go through the same [`crate::proxy::Proxy`] as
//! `/v1` (API keys, scheduler, holding queue, retries, fallbacks, metrics); answers come back in
//! Ollama's shape, NDJSON lines for streams, and errors as `{"error": "..."}`. docs/ollama.md
//! says what maps to what.

pub mod answer;
pub mod chat;
pub mod embed;
pub mod error;
pub mod fields;
pub mod generate;
pub mod models;
pub mod ndjson;
pub mod options;
pub mod relay;
pub mod request;

use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{middleware, Extension, Json, Router};

use crate::auth::{require_api_key, ApiKeys};
use crate::server::AppState;
pub use error::OllamaError;

/// The Ollama release whose API these routes follow, as `GET /api/version` reports it.
pub const OLLAMA_API_VERSION: &str = "0.12.0";

/// The paths this module serves (a passthrough route may not take them).
pub const ROUTES: [&str; 9] = [
    "/",
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/api/tags",
    "/api/ps",
    "/api/show",
    "/api/version",
];

/// When the routes were made (RFC 3339): the `modified_at` of the fleet's models, which report
/// none of their own.
#[derive(Debug, Clone)]
pub struct Since(pub String);

/// The Ollama routes, `/api/*` behind `api_keys` (as `/v1`), `/` open (a liveness probe). Every
/// error they answer is in Ollama's shape, unknown `/api/...` paths and wrong methods included.
pub fn router(api_keys: ApiKeys) -> Router<AppState> {
    let api = Router::new()
        .route("/api/chat", post(chat::chat))
        .route("/api/generate", post(generate::generate))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .route("/api/tags", get(models::tags))
        .route("/api/ps", get(models::ps))
        .route("/api/show", post(models::show))
        .route("/api/version", get(version))
        .route("/api/{*rest}", any(unknown_endpoint))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(api_keys, require_api_key))
        .layer(Extension(Since(answer::now_rfc3339())))
        .layer(middleware::from_fn(error::reshape_errors));
    Router::new().route("/", get(running)).merge(api)
}

/// `GET /` and `HEAD /`: what an Ollama server answers, so clients that probe it find one.
async fn running() -> &'static str {
    "Ollama is running"
}

/// `GET /api/version`.
async fn version() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "version": OLLAMA_API_VERSION }))
}

async fn unknown_endpoint(uri: Uri) -> Response {
    OllamaError::new(
        StatusCode::NOT_FOUND,
        format!(
            "{} is not served: this gateway serves Ollama's /api/chat, /api/generate, \
             /api/embed, /api/tags, /api/ps, /api/show and /api/version (models are managed \
             across the fleet, not through /api/pull, /api/create or /api/delete)",
            uri.path()
        ),
    )
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    OllamaError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
    .into_response()
}
