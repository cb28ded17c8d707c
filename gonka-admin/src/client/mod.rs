//! [`Client`]: a typed client of the admin API, one method per call.

mod deploy;
mod error;

pub use deploy::{CreatedTaskGroup, EndpointView, TaskAction, TaskGroupDetail, TaskQuery};
pub use error::ClientError;

use gonka_core::{NodeConfig, NodeRecord};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::{AdminStateChanged, PartialBatch};

/// A client of one admin API server (`http://127.0.0.1:9200` by default on the host).
///
/// ```no_run
/// # async fn demo() -> Result<(), gonka_admin::ClientError> {
/// let admin = gonka_admin::Client::new("http://127.0.0.1:9200").with_token("s3cret");
/// for record in admin.list().await? {
///     println!("{} enabled={}", record.node.id, record.state.admin_state.enabled);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `base_url` (scheme, host and port; a trailing `/` is ignored).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_http_client(base_url, reqwest::Client::new())
    }

    /// As [`new`](Self::new) with a preconfigured `reqwest::Client` (timeouts, TLS, proxies).
    pub fn with_http_client(base_url: impl Into<String>, http: reqwest::Client) -> Self {
        Self {
            base: base_url.into().trim_end_matches('/').to_owned(),
            token: None,
            http,
        }
    }

    /// A client of the server at `base_url` (`https://...` too: rustls with the webpki roots)
    /// that also trusts the CA certificate(s) in `ca_pem` (PEM), for a server whose certificate
    /// a private CA signed.
    ///
    /// # Errors
    /// [`ClientError::InvalidCertificate`] when `ca_pem` holds no valid certificate.
    pub fn with_ca_pem(base_url: impl Into<String>, ca_pem: &[u8]) -> Result<Self, ClientError> {
        let invalid = |e: String| ClientError::InvalidCertificate(e);
        let certs =
            reqwest::Certificate::from_pem_bundle(ca_pem).map_err(|e| invalid(e.to_string()))?;
        if certs.is_empty() {
            return Err(invalid("no PEM certificate found".into()));
        }
        let mut builder = reqwest::Client::builder();
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
        Ok(Self::with_http_client(base_url, builder.build()?))
    }

    /// Sends `Authorization: Bearer <token>` with every call.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn node_path(id: &str, suffix: &str) -> String {
        format!("/admin/v1/nodes/{}{suffix}", encode_segment(id))
    }

    /// `GET /admin/v1/nodes`: every node with its state, in registration order.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn list(&self) -> Result<Vec<NodeRecord>, ClientError> {
        send(self.request(Method::GET, "/admin/v1/nodes")).await
    }

    /// `GET /admin/v1/nodes/:id`.
    ///
    /// # Errors
    /// `NotFound` when no such node; see [`ClientError`].
    pub async fn get(&self, id: &str) -> Result<NodeRecord, ClientError> {
        send(self.request(Method::GET, &Self::node_path(id, ""))).await
    }

    /// `POST /admin/v1/nodes`: create or replace by id; returns the stored config with `node_num`.
    ///
    /// # Errors
    /// `Invalid` on validation failure or endpoint conflict; see [`ClientError`].
    pub async fn create(&self, node: &NodeConfig) -> Result<NodeConfig, ClientError> {
        send(self.request(Method::POST, "/admin/v1/nodes").json(node)).await
    }

    /// `POST /admin/v1/nodes/batch`: all stored → `Ok(stored)`.
    ///
    /// # Errors
    /// `PartialBatch` (206: some stored), `BatchRejected` (400: none stored), `Invalid` (not a
    /// non-empty array); see [`ClientError`].
    pub async fn batch(&self, nodes: &[NodeConfig]) -> Result<Vec<NodeConfig>, ClientError> {
        self.batch_body(nodes).await
    }

    /// `POST /admin/v1/nodes/batch` with `nodes` sent as is (a JSON array of node objects read
    /// from a file, say): the server validates each element, so its messages name every problem.
    ///
    /// # Errors
    /// As [`batch`](Self::batch).
    pub async fn batch_json(&self, nodes: &Value) -> Result<Vec<NodeConfig>, ClientError> {
        self.batch_body(nodes).await
    }

    /// `POST /admin/v1/nodes` with `node` sent as is (a JSON object, not a typed [`NodeConfig`]):
    /// the server validates it, so a 400 carries its messages for every field.
    ///
    /// # Errors
    /// `Invalid` on validation failure or endpoint conflict; see [`ClientError`].
    pub async fn create_json(&self, node: &Value) -> Result<NodeConfig, ClientError> {
        send(self.request(Method::POST, "/admin/v1/nodes").json(node)).await
    }

    /// `PUT /admin/v1/nodes/:id` with `node` sent as is (its `id` may be absent: the path id is
    /// used); the server validates it.
    ///
    /// # Errors
    /// `Invalid` (also when the body id differs from `id`); see [`ClientError`].
    pub async fn put_json(&self, id: &str, node: &Value) -> Result<NodeConfig, ClientError> {
        send(
            self.request(Method::PUT, &Self::node_path(id, ""))
                .json(node),
        )
        .await
    }

    async fn batch_body<B: Serialize + ?Sized>(
        &self,
        nodes: &B,
    ) -> Result<Vec<NodeConfig>, ClientError> {
        let response = self
            .request(Method::POST, "/admin/v1/nodes/batch")
            .json(nodes)
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        if status == StatusCode::PARTIAL_CONTENT {
            let partial: PartialBatch = decode(status, &body)?;
            return Err(ClientError::PartialBatch {
                nodes: partial.nodes,
                errors: partial.errors,
            });
        }
        finish(status, &body)
    }

    /// `PUT /admin/v1/nodes/:id`: create or replace the node `id` with `node` (its id must be
    /// `id` or empty, in which case the path id is used).
    ///
    /// # Errors
    /// `Invalid` (also when the ids differ); see [`ClientError`].
    pub async fn put(&self, id: &str, node: &NodeConfig) -> Result<NodeConfig, ClientError> {
        let mut body = serde_json::to_value(node).map_err(|e| ClientError::Decode {
            status: 0,
            reason: format!("cannot encode node: {e}"),
            body: String::new(),
        })?;
        if node.id.is_empty() {
            if let Some(obj) = body.as_object_mut() {
                obj.remove("id");
            }
        }
        send(
            self.request(Method::PUT, &Self::node_path(id, ""))
                .json(&body),
        )
        .await
    }

    /// `POST /admin/v1/nodes/:id/enable`.
    ///
    /// # Errors
    /// `NotFound` when no such node; see [`ClientError`].
    pub async fn enable(&self, id: &str) -> Result<AdminStateChanged, ClientError> {
        send(self.request(Method::POST, &Self::node_path(id, "/enable"))).await
    }

    /// `POST /admin/v1/nodes/:id/disable`.
    ///
    /// # Errors
    /// `NotFound` when no such node; see [`ClientError`].
    pub async fn disable(&self, id: &str) -> Result<AdminStateChanged, ClientError> {
        send(self.request(Method::POST, &Self::node_path(id, "/disable"))).await
    }

    /// `DELETE /admin/v1/nodes/:id`: returns the deleted config.
    ///
    /// # Errors
    /// `NotFound` when no such node; see [`ClientError`].
    pub async fn delete(&self, id: &str) -> Result<NodeConfig, ClientError> {
        send(self.request(Method::DELETE, &Self::node_path(id, ""))).await
    }
}

async fn send<T: DeserializeOwned>(rb: RequestBuilder) -> Result<T, ClientError> {
    let response = rb.send().await?;
    let status = response.status();
    let body = response.text().await?;
    finish(status, &body)
}

fn finish<T: DeserializeOwned>(status: StatusCode, body: &str) -> Result<T, ClientError> {
    if status.is_success() {
        decode(status, body)
    } else {
        Err(ClientError::from_response(status, body))
    }
}

fn decode<T: DeserializeOwned>(status: StatusCode, body: &str) -> Result<T, ClientError> {
    serde_json::from_str(body).map_err(|e| ClientError::Decode {
        status: status.as_u16(),
        reason: e.to_string(),
        body: body.to_owned(),
    })
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode_segment;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_segment("node-1.a_b~"), "node-1.a_b~");
        assert_eq!(encode_segment("a b/c?"), "a%20b%2Fc%3F");
        assert_eq!(encode_segment("é"), "%C3%A9");
    }
}
