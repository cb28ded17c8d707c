//! Upstream's version prefix: an upstream network node builds ML node URLs as
//! `http://{host}:{port}/{version}{segment}` with the chain's ML node version (e.g.
//! `GET /v3.0.8/api/v1/state`), and upstream puts nginx in front of its ML node to strip it.
//! [`accept_version_prefix`] makes a router serve every route both as is and under such a
//! prefix, so no proxy is needed.
//!
//! A version segment is `v` followed by dot-separated numbers with at least one dot (`v3.0.8`,
//! `v0.2`), optionally with a `-`/`+` suffix (`v3.0.8-rc1`). `/v1/...` (the OpenAI routes) is
//! therefore never taken for a version. Every version is accepted: this agent has no
//! version-specific behaviour, so an upgrade probe (`GET /{new version}/api/v1/state`) finds it
//! ready.

use axum::extract::Request;
use axum::http::uri::{PathAndQuery, Uri};
use axum::Router;
use tower::ServiceExt;

/// `app` serving its routes both at their paths and under a `/{version}` prefix (the prefix is
/// removed before routing, so handlers, fallbacks and the proxy see the unprefixed path).
pub fn accept_version_prefix(app: Router) -> Router {
    Router::new().fallback_service(app.map_request(strip_version as fn(Request) -> Request))
}

/// `request` with a leading version segment removed from its path (query kept).
fn strip_version(mut request: Request) -> Request {
    let Some(rest) = unversioned(request.uri().path()) else {
        return request;
    };
    let path_and_query = match request.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let Ok(path_and_query) = PathAndQuery::try_from(path_and_query) else {
        return request;
    };
    let mut parts = request.uri().clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    if let Ok(uri) = Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

/// The path after a leading `/{version}` segment (starting with `/`), or `None` when the path
/// has no version prefix.
fn unversioned(path: &str) -> Option<&str> {
    let after = path.strip_prefix('/')?;
    let (segment, rest) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, "/"),
    };
    is_version(segment).then_some(rest)
}

/// `v` + numbers separated by dots (at least one dot), optionally `-`/`+` and a suffix of
/// ASCII letters, digits, `.`, `-` or `_`.
fn is_version(segment: &str) -> bool {
    let Some(v) = segment.strip_prefix('v') else {
        return false;
    };
    let (core, suffix) = match v.find(['-', '+']) {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() >= 2
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && suffix.is_none_or(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_segments_are_recognised() {
        for v in [
            "v3.0.8",
            "v0.2",
            "v10.20.30.40",
            "v3.0.8-rc1",
            "v3.0.8+post.1",
        ] {
            assert!(is_version(v), "{v}");
        }
        for v in [
            "v1", "v", "3.0.8", "v3.", "v.3", "v3..0", "v3.0.8-", "vx.y", "api", "",
        ] {
            assert!(!is_version(v), "{v}");
        }
    }

    #[test]
    fn only_a_leading_version_segment_is_removed() {
        assert_eq!(unversioned("/v3.0.8/api/v1/state"), Some("/api/v1/state"));
        assert_eq!(unversioned("/v3.0.8/v1/models"), Some("/v1/models"));
        assert_eq!(unversioned("/v3.0.8/health"), Some("/health"));
        assert_eq!(unversioned("/v3.0.8"), Some("/"));
        assert_eq!(unversioned("/v3.0.8/"), Some("/"));
        assert_eq!(unversioned("/v1/models"), None);
        assert_eq!(unversioned("/api/v1/state"), None);
        assert_eq!(unversioned("/health"), None);
    }

    #[test]
    fn the_query_survives_the_rewrite() {
        let request = Request::builder()
            .uri("/v3.0.8/api/v1/inference/up?wait=false")
            .body(axum::body::Body::empty())
            .unwrap();
        let request = strip_version(request);
        assert_eq!(
            request.uri().path_and_query().unwrap().as_str(),
            "/api/v1/inference/up?wait=false"
        );
    }
}
