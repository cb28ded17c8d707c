//! Routing by model route ([`crate::deploy_routes`]) inside the proxy: the endpoint key's scope,
//! the route a request takes (its nodes and queue priority), and the response headers naming
//! where a request went.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use gonka_core::deploy::queue_priority;
use gonka_core::RequestInfo;

use super::Proxy;
use crate::deploy_routes::{DeployRoutes, KeyScope, RouteChoice};
use crate::error::GatewayError;

/// Response header naming the node that served a request (every proxied answer).
pub const NODE_HEADER: HeaderName = HeaderName::from_static("x-gonka-node");
/// Response header naming the model route a request took (deployments only).
pub const ROUTE_HEADER: HeaderName = HeaderName::from_static("x-gonka-route");
/// Response header with the version label of that route (`v1`, `canary`, ...).
pub const ROUTE_VERSION_HEADER: HeaderName = HeaderName::from_static("x-gonka-route-version");

/// Copies the headers naming where a request went (node, route, version, VRAM fallback) from
/// `from` to `to`: for answers rebuilt from the proxy's (the Ollama API's).
pub fn copy_routing_headers(from: &HeaderMap, to: &mut HeaderMap) {
    let vram = HeaderName::from_static(super::VRAM_FALLBACK_HEADER);
    for name in [NODE_HEADER, ROUTE_HEADER, ROUTE_VERSION_HEADER, vram] {
        if let Some(v) = from.get(&name) {
            to.insert(name, v.clone());
        }
    }
}

/// Names `node` (and the route of `choice`, when one applied) in `headers`.
pub(super) fn stamp(headers: &mut HeaderMap, node: &str, choice: Option<&RouteChoice>) {
    if let Ok(v) = HeaderValue::from_str(node) {
        headers.insert(NODE_HEADER, v);
    }
    if let Some(c) = choice {
        if let Ok(v) = HeaderValue::from_str(&c.route_id) {
            headers.insert(ROUTE_HEADER, v);
        }
        if let Ok(v) = HeaderValue::from_bytes(c.version.as_bytes()) {
            headers.insert(ROUTE_VERSION_HEADER, v);
        }
    }
}

impl Proxy {
    /// The proxy routing models that have model routes by them (see [`crate::deploy_routes`]),
    /// and scoping deployment endpoint keys to their deployment's models.
    pub fn with_deploy_routes(mut self, routes: Option<Arc<DeployRoutes>>) -> Self {
        self.deploy = routes;
        self
    }

    /// The scope of the request's API key when it is a deployment endpoint's key.
    ///
    /// # Errors
    /// `KeyScope` (403) when it is one and may not ask for `model`.
    pub(super) async fn key_scope(
        &self,
        headers: &HeaderMap,
        model: &str,
    ) -> Result<Option<Arc<KeyScope>>, GatewayError> {
        let (Some(routes), Some(key)) = (&self.deploy, crate::auth::bearer(headers)) else {
            return Ok(None);
        };
        let Some(scope) = routes.resolve_key(key).await else {
            return Ok(None);
        };
        if routes.allows(&scope, model) {
            Ok(Some(scope))
        } else {
            Err(GatewayError::KeyScope {
                model: model.to_owned(),
                deployment: scope.name.clone(),
            })
        }
    }

    /// `chain` for one try of a request for `model`: when the model has a route with a healthy
    /// group (see [`DeployRoutes::choose`]), its requests for `model` exclude every node outside
    /// the route's group and wait in the queue at the group's QoS priority; else `chain` as is.
    pub(super) fn route<'a>(
        &self,
        chain: &'a [RequestInfo],
        model: &str,
        excluded: &[Arc<str>],
        scope: Option<&KeyScope>,
        draw: u32,
    ) -> (Cow<'a, [RequestInfo]>, Option<RouteChoice>) {
        let Some(routes) = &self.deploy else {
            return (Cow::Borrowed(chain), None);
        };
        let only_group = scope.map(|s| s.group_id.as_str());
        let Some(choice) = routes.choose(model, &self.pool, excluded, only_group, draw) else {
            return (Cow::Borrowed(chain), None);
        };
        let others = self.pool.others_serving(model, &choice.nodes);
        let routed = chain
            .iter()
            .map(|r| {
                if r.model != model {
                    return r.clone();
                }
                let mut r = r.clone();
                r.exclude.extend(others.iter().cloned());
                r.priority = queue_priority(choice.qos, r.priority);
                r
            })
            .collect();
        (Cow::Owned(routed), Some(choice))
    }
}
