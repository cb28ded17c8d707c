//! Request extractors that answer every problem with the admin API's JSON error shape.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// A request body parsed as JSON, not yet validated.
///
/// `Content-Type` must be JSON (`application/json` or `...+json`), else 415: a missing header is
/// refused too, because a web page can send a body without one (a form, `fetch` with a text
/// body) to another site without the browser asking first. Oversized bodies answer 413,
/// malformed JSON 400 with the parser's position.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| malformed(&e))
    }
}

/// A JSON request body as bytes, not yet parsed: the checks of [`JsonBody`] (`Content-Type`,
/// 413, empty body) without building a `Value`, for handlers that parse it themselves.
#[derive(Debug)]
pub struct JsonBytes(pub Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers().get(header::CONTENT_TYPE))?;
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: state.options.body_limit,
                }
            } else {
                ApiError::BadRequest(format!("could not read request body: {}", r.body_text()))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest(
                "request body is empty; expected a JSON node".into(),
            ));
        }
        Ok(JsonBytes(bytes))
    }
}

/// The 400 of a body that is not JSON, with the parser's position.
pub fn malformed(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("malformed JSON body: {e}"))
}

/// 415 unless `content_type` is JSON (`application/json` or `...+json`, parameters ignored).
pub(crate) fn check_content_type(content_type: Option<&HeaderValue>) -> Result<(), ApiError> {
    let Some(ct) = content_type else {
        return Err(ApiError::UnsupportedMediaType(
            "missing Content-Type: send the JSON body with Content-Type: application/json".into(),
        ));
    };
    let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "expected Content-Type: application/json, got {essence:?}"
        )))
    }
}

/// The `:id` path segment of `/admin/v1/nodes/:id...`.
#[derive(Debug)]
pub struct NodeId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for NodeId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| NodeId(id))
            .map_err(|r: PathRejection| {
                ApiError::BadRequest(format!("invalid node id in path: {}", r.body_text()))
            })
    }
}
