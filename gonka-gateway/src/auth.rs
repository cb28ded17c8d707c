//! Optional API keys on the public API: `Authorization: Bearer sk-...`.
//!
//! Keys are kept only as SHA-256 digests: an entry `sha256:<64 hex digits>` is used as is (so the
//! keys file need not hold a plaintext key), any other entry is hashed when [`ApiKeys::new`] runs.
//! A presented key is hashed and compared with every stored digest in constant time.
//!
//! With deployments, a deployment endpoint's API key is accepted too
//! ([`ApiKeys::with_endpoint_keys`]); the proxy then scopes it to its deployment's models.

use std::collections::HashSet;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::GatewayError;

/// SHA-256 digests of the accepted keys; empty means every request is allowed. Optionally
/// also the deployments' endpoint keys.
#[derive(Clone, Default)]
pub struct ApiKeys(
    Arc<Vec<[u8; 32]>>,
    Option<Arc<crate::deploy_routes::DeployRoutes>>,
);

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ApiKeys(<{} key digests>, endpoint keys: {})",
            self.0.len(),
            self.1.is_some()
        )
    }
}

impl ApiKeys {
    /// Digests of `entries`: `sha256:<hex>` entries are decoded (a malformed one is hashed as a
    /// plaintext key, so it matches only itself), others are hashed.
    pub fn new(entries: &HashSet<String>) -> Self {
        let mut digests: Vec<[u8; 32]> = entries.iter().map(|e| entry_digest(e)).collect();
        digests.sort_unstable();
        digests.dedup();
        Self(Arc::new(digests), None)
    }

    /// These keys, and also the endpoint keys of the deployments in `routes` (when `Some`):
    /// an endpoint key is accepted even when it is not one of these keys.
    pub fn with_endpoint_keys(
        mut self,
        routes: Option<Arc<crate::deploy_routes::DeployRoutes>>,
    ) -> Self {
        self.1 = routes;
        self
    }

    /// Whether no key is configured (the API is open; endpoint keys aside).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `key` is one of the accepted keys. Takes the same time whichever digest matches
    /// (every digest is compared in full).
    pub fn accepts(&self, key: &str) -> bool {
        let presented = sha256(key.as_bytes());
        self.0.iter().fold(false, |found, digest| {
            found | constant_time_eq(digest, &presented)
        })
    }
}

/// `sha256:<hex>` for a plaintext key: the form to put in an API keys file instead of the key.
pub fn hashed_entry(key: &str) -> String {
    sha256_prefixed(key, 32)
}

/// The non-secret id of `key` that request traces record: `sha256:` and the first 8 hex digits
/// of its digest (a prefix of [`hashed_entry`]).
pub(crate) fn key_id(key: &str) -> String {
    sha256_prefixed(key, 4)
}

/// `sha256:` and the hex digits of the first `bytes` bytes of `key`'s digest.
fn sha256_prefixed(key: &str, bytes: usize) -> String {
    let digest = sha256(key.as_bytes());
    let mut out = String::with_capacity(7 + 2 * bytes);
    out.push_str("sha256:");
    out.push_str(&hex::encode(&digest[..bytes.min(digest.len())]));
    out
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn entry_digest(entry: &str) -> [u8; 32] {
    entry
        .strip_prefix("sha256:")
        .and_then(decode_hex32)
        .unwrap_or_else(|| sha256(entry.as_bytes()))
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Compares two equal-length digests without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ApiKeys {
    /// Whether `key` is a deployment endpoint's key (when endpoint keys are accepted).
    async fn accepts_endpoint_key(&self, key: &str) -> bool {
        match &self.1 {
            Some(routes) => routes.resolve_key(key).await.is_some(),
            None => false,
        }
    }
}

/// The bearer token of `headers` (`Authorization: Bearer <key>`), trimmed.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Middleware: 401 in OpenAI shape unless the bearer token is one of the keys (when keys are set).
pub async fn require_api_key(
    State(keys): State<ApiKeys>,
    request: Request,
    next: Next,
) -> Response {
    match keys.check(request.headers()).await {
        Ok(()) => next.run(request).await,
        Err(refused) => refused,
    }
}

impl ApiKeys {
    /// What [`require_api_key`] decides for a request with `headers`: `Ok` when no key is set
    /// or its bearer token is an accepted key (or a deployment endpoint's key), otherwise the
    /// 401 answer in OpenAI shape (naming a missing or an incorrect key).
    ///
    /// # Errors
    /// The 401 answer to send.
    pub async fn check(&self, headers: &axum::http::HeaderMap) -> Result<(), Response> {
        if self.is_empty() {
            return Ok(());
        }
        match bearer(headers) {
            Some(key) if self.accepts(key) => Ok(()),
            Some(key) if self.accepts_endpoint_key(key).await => Ok(()),
            Some(_) => {
                Err(GatewayError::Unauthorized("incorrect API key provided".into()).into_response())
            }
            None => Err(GatewayError::Unauthorized(
                "missing API key: send it as `Authorization: Bearer sk-...`".into(),
            )
            .into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(entries: &[&str]) -> ApiKeys {
        ApiKeys::new(&entries.iter().map(|e| (*e).to_owned()).collect())
    }

    #[test]
    fn plaintext_and_hashed_entries_accept_their_key_only() {
        let k = keys(&["sk-plain", &hashed_entry("sk-hashed")]);
        assert!(k.accepts("sk-plain"));
        assert!(k.accepts("sk-hashed"));
        assert!(!k.accepts("sk-other"));
        assert!(
            !k.accepts(&hashed_entry("sk-hashed")),
            "the digest itself is not a key"
        );
        assert!(!k.accepts(""));
    }

    #[test]
    fn only_digests_are_kept_in_memory() {
        let k = keys(&["sk-secret-value"]);
        let debug = format!("{k:?}");
        assert!(!debug.contains("sk-secret-value"), "{debug}");
        assert_eq!(k.0.as_slice(), &[sha256(b"sk-secret-value")]);
    }

    #[test]
    fn malformed_hashed_entry_matches_only_itself() {
        let k = keys(&["sha256:zz"]);
        assert!(k.accepts("sha256:zz"));
        assert!(!k.accepts("zz"));
    }

    #[test]
    fn hashed_entry_is_lowercase_hex_sha256() {
        assert_eq!(
            hashed_entry("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
