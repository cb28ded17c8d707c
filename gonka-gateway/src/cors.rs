//! Optional CORS on the public listener (`--cors-origins`): browsers on the listed sites may call
//! the OpenAI API and read its answers. Off by default (no CORS headers: a browser on another site
//! cannot read answers). Never on the admin or PoC listeners.

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// A CORS layer allowing `origins` (`*` alone: any origin, without credentials) to send
/// `GET`/`POST` with `Authorization`, `Content-Type` and `X-Request-Id`, and to read
/// `X-Request-Id` and `Retry-After`; preflights are cached for 10 minutes.
///
/// # Errors
/// An origin that is not `scheme://host[:port]`, named.
pub fn layer(origins: &[String]) -> Result<CorsLayer, String> {
    let allow = if origins.iter().any(|o| o == "*") {
        if origins.len() > 1 {
            return Err("--cors-origins: `*` allows every origin; give it alone".into());
        }
        AllowOrigin::from(Any)
    } else {
        let mut list = Vec::with_capacity(origins.len());
        for o in origins {
            let valid = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.ends_with('/')
                && o.split("://")
                    .nth(1)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
            if !valid {
                return Err(format!(
                    "--cors-origins: {o:?} is not an origin like https://app.example.com"
                ));
            }
            list.push(
                HeaderValue::from_str(o)
                    .map_err(|_| format!("--cors-origins: {o:?} is not a valid header value"))?,
            );
        }
        AllowOrigin::list(list)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        assert!(layer(&["https://app.example.com".into()]).is_ok());
        assert!(layer(&["http://localhost:3000".into(), "https://a.b".into()]).is_ok());
        assert!(layer(&["*".into()]).is_ok());
        for bad in [
            "app.example.com",
            "https://a.b/",
            "https://a.b/path",
            "https://",
        ] {
            let e = layer(&[bad.into()]).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        assert!(layer(&["*".into(), "https://a.b".into()]).is_err());
    }
}
