//! The public listener's service: `POST /v1/chat/completions` and `POST /v1/completions`, the
//! routes every inference request takes, answered directly, and every other request handed to
//! the public router.
//!
//! The direct path does what the router's layers do for those two routes, in the same order and
//! with the same observable result: the server span (`gonka_http`), the `x-request-id` (the
//! client's, or a new one, on the request passed upstream and on the answer), the request span
//! (`gonka_request`) with tower-http's answer lines (`tower_http::trace::on_response` at `debug`,
//! `tower_http::trace::on_failure` at `error` for a 5xx), the API keys, then the handler. What it
//! leaves out is the machinery: no route table lookup, no boxed middleware chain per layer and no
//! copy of the request headers. With CORS origins set, every request goes through the router
//! (the CORS layer answers preflights and adds headers on these routes too).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::Router;
use tokio::time::Instant;
use tower_http::request_id::MakeRequestId;
use tracing::Instrument;

use crate::auth::ApiKeys;
use crate::handlers::completions;
use crate::request_id::CounterRequestId;
use crate::server::{AppState, REQUEST_ID};

/// The routes answered directly, with their upstream path.
const DIRECT: [&str; 2] = ["/v1/chat/completions", "/v1/completions"];

/// The public listener's service (see the module docs). Cheap to clone: one reference count per
/// part.
#[derive(Clone)]
pub struct PublicService {
    router: Router,
    direct: Option<Arc<Direct>>,
}

/// What the direct path needs: the router's state, API keys and request ids.
struct Direct {
    state: AppState,
    keys: ApiKeys,
    ids: CounterRequestId,
}

impl PublicService {
    /// `router` (the public router with every layer, the server span included) for every request,
    /// except the two completion routes when `direct` is `Some`: those are answered with its
    /// state, API keys and request ids. Pass `None` when the router has a layer the direct path
    /// does not reproduce (CORS).
    pub fn new(router: Router, direct: Option<(AppState, ApiKeys, CounterRequestId)>) -> Self {
        Self {
            router,
            direct: direct.map(|(state, keys, ids)| Arc::new(Direct { state, keys, ids })),
        }
    }
}

impl tower::Service<Request> for PublicService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready, and so is the direct path.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(direct) = &self.direct {
            if request.method() == Method::POST {
                let path = request.uri().path();
                if let Some(route) = DIRECT.iter().copied().find(|r| *r == path) {
                    let direct = Arc::clone(direct);
                    return Box::pin(async move { Ok(direct.answer(route, request).await) });
                }
            }
        }
        Box::pin(tower::Service::call(&mut self.router, request))
    }
}

impl Direct {
    /// The layers' work around [`Self::handle`] (see the module docs).
    async fn answer(&self, route: &'static str, mut request: Request) -> Response {
        if !request.headers().contains_key(&REQUEST_ID) {
            let mut ids = self.ids.clone();
            if let Some(id) = ids.make_request_id(&request) {
                request
                    .headers_mut()
                    .insert(REQUEST_ID, id.header_value().clone());
                request.extensions_mut().insert(id);
            }
        }
        let id = request.headers().get(&REQUEST_ID).cloned();
        // The handler's future is large (the proxy's, ~3 KB): boxed where it is made, so the
        // wrappers around it stay small and each move of them copies a pointer, not kilobytes.
        let mut response =
            gonka_core::trace_context::in_server_span(Some(route), request, |request| {
                let span = crate::server::request_span(&request);
                Box::pin(self.logged(route, request)).instrument(span)
            })
            .await;
        if let Some(id) = id {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        response
    }

    /// [`Self::handle`] with tower-http's answer lines.
    async fn logged(&self, route: &'static str, request: Request) -> Response {
        tracing::debug!(
            target: "tower_http::trace::on_request",
            "started processing request"
        );
        let started = Instant::now();
        let response = self.handle(route, request).await;
        log_answer(response.status(), started);
        response
    }

    /// The API keys, then the handler of `route`.
    async fn handle(&self, route: &'static str, request: Request) -> Response {
        if let Err(refused) = self.keys.check(request.headers()).await {
            return refused;
        }
        let (parts, body) = request.into_parts();
        completions::forward(&self.state, route, parts.headers, body).await
    }
}

/// tower-http's `TraceLayer` lines for an answer with `status`, under the same targets and
/// levels, so a log filter written for the router's lines keeps matching.
fn log_answer(status: StatusCode, started: Instant) {
    if status.is_server_error() {
        tracing::error!(
            target: "tower_http::trace::on_failure",
            classification = %format_args!("Status code: {status}"),
            latency = %format_args!("{} ms", started.elapsed().as_millis()),
            "response failed"
        );
    }
    tracing::debug!(
        target: "tower_http::trace::on_response",
        latency = %format_args!("{} ms", started.elapsed().as_millis()),
        status = status.as_u16(),
        "finished processing request"
    );
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use axum::body::{to_bytes, Body};
    use axum::http::header;
    use gonka_core::{ManualEpoch, MemoryRegistry};
    use tower::ServiceExt;

    use super::*;
    use crate::handlers::health::ReadinessChecks;
    use crate::metrics::Metrics;
    use crate::pool::NodePool;
    use crate::proxy::{Proxy, ProxySettings};
    use crate::schedule::LeastBusy;
    use crate::server::{public_router, AppStateParts};

    const KEY: &str = "sk-direct";
    const BODY_LIMIT: usize = 1024;

    /// A public API over an empty pool (every model is unknown), with `BODY_LIMIT`.
    fn state() -> AppState {
        let pool = Arc::new(NodePool::new(
            Arc::new(LeastBusy),
            Arc::new(ManualEpoch::new(0)),
            8,
            3,
        ));
        let metrics = Arc::new(Metrics::new());
        let settings = ProxySettings {
            max_tries: 2,
            queue_timeout: Duration::from_millis(10),
            request_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            upstream_idle_timeout: Duration::from_secs(1),
            fallbacks: Default::default(),
            context_protection: Default::default(),
        };
        let proxy = Arc::new(Proxy::new(pool.clone(), metrics.clone(), settings).unwrap());
        AppState::new(AppStateParts {
            proxy,
            metrics,
            body_limit: BODY_LIMIT,
            readiness: ReadinessChecks {
                registry: Arc::new(MemoryRegistry::new()),
                pool,
                ready_without_nodes: false,
                registry_timeout: Duration::from_secs(1),
            },
        })
    }

    fn keys(with_key: bool) -> ApiKeys {
        let entries: HashSet<String> = if with_key {
            [KEY.to_owned()].into()
        } else {
            HashSet::new()
        };
        ApiKeys::new(&entries)
    }

    /// The service over `router`, answering the completion routes directly when `direct`.
    fn service(router: Router, state: AppState, with_key: bool, direct: bool) -> PublicService {
        let ids = CounterRequestId::default();
        PublicService::new(router, direct.then(|| (state, keys(with_key), ids)))
    }

    fn teapot() -> Router {
        Router::new().fallback(|| async { StatusCode::IM_A_TEAPOT })
    }

    async fn call(
        service: &PublicService,
        request: Request,
    ) -> (StatusCode, Option<String>, String) {
        let response = service.clone().oneshot(request).await.unwrap();
        let id = response
            .headers()
            .get(&REQUEST_ID)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, id, String::from_utf8_lossy(&body).into_owned())
    }

    fn post(path: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
    }

    fn chat(path: &str) -> Request {
        post(path)
            .body(Body::from(r#"{"model":"absent","messages":[]}"#))
            .unwrap()
    }

    #[tokio::test]
    async fn only_posts_to_the_two_completion_routes_take_the_direct_path() {
        let direct = service(teapot(), state(), false, true);
        for path in ["/v1/chat/completions", "/v1/completions"] {
            let (status, id, body) = call(&direct, chat(path)).await;
            assert_ne!(status, StatusCode::IM_A_TEAPOT, "{path}: {body}");
            assert!(id.is_some_and(|id| id.starts_with("gw-")), "{path}");
        }
        let others = [
            Request::get("/v1/chat/completions")
                .body(Body::empty())
                .unwrap(),
            chat("/v1/chat/completions/"),
            chat("/v1/chat/completions/x"),
            chat("/v1/models"),
        ];
        for request in others {
            let what = format!("{} {}", request.method(), request.uri());
            let (status, _, _) = call(&direct, request).await;
            assert_eq!(status, StatusCode::IM_A_TEAPOT, "{what}");
        }
        let routed = service(teapot(), state(), false, false);
        let (status, _, _) = call(&routed, chat("/v1/chat/completions")).await;
        assert_eq!(
            status,
            StatusCode::IM_A_TEAPOT,
            "without direct: the router"
        );
    }

    /// Requests of every outcome the direct path has, each with and without the client's id.
    fn requests() -> Vec<(&'static str, Request)> {
        let chat = r#"{"model":"absent","messages":[{"role":"user","content":"hi"}]}"#;
        let with = |name, auth: Option<&str>, body: String| {
            let mut b = post("/v1/chat/completions");
            if let Some(auth) = auth {
                b = b.header(header::AUTHORIZATION, auth);
            }
            (name, b.body(Body::from(body)).unwrap())
        };
        let mut out = vec![
            with("no key", None, chat.into()),
            with("wrong key", Some("Bearer sk-wrong"), chat.into()),
            with("unknown model", Some("Bearer sk-direct"), chat.into()),
            with("malformed json", Some("Bearer sk-direct"), "{".into()),
            with("no model", Some("Bearer sk-direct"), "{}".into()),
            with(
                "over the body limit",
                Some("Bearer sk-direct"),
                format!(r#"{{"model":"{}"}}"#, "x".repeat(BODY_LIMIT)),
            ),
        ];
        let mut own_id = with("client's id", Some("Bearer sk-direct"), chat.into());
        own_id
            .1
            .headers_mut()
            .insert(REQUEST_ID, "client-id-1".parse().unwrap());
        out.push(own_id);
        let mut completions = with("completions", Some("Bearer sk-direct"), chat.into());
        *completions.1.uri_mut() = "/v1/completions".parse().unwrap();
        out.push(completions);
        out
    }

    #[tokio::test]
    async fn the_direct_path_answers_as_the_public_router_does() {
        let state = state();
        let router = || public_router(state.clone(), keys(true));
        let direct = service(router(), state.clone(), true, true);
        let routed = service(router(), state.clone(), true, false);
        for ((name, a), (_, b)) in requests().into_iter().zip(requests()) {
            let client_id = a.headers().get(&REQUEST_ID).cloned();
            let (status_a, id_a, body_a) = call(&direct, a).await;
            let (status_b, id_b, body_b) = call(&routed, b).await;
            assert_eq!(status_a, status_b, "{name}: {body_a} vs {body_b}");
            assert!(!status_a.is_success(), "{name}: {status_a}");
            assert_eq!(body_a, body_b, "{name}");
            match client_id {
                Some(id) => {
                    assert_eq!(id_a.as_deref(), id.to_str().ok(), "{name}");
                    assert_eq!(id_b.as_deref(), id.to_str().ok(), "{name}");
                }
                None => {
                    assert!(id_a.is_some_and(|i| i.starts_with("gw-")), "{name}");
                    assert!(id_b.is_some_and(|i| i.starts_with("gw-")), "{name}");
                }
            }
        }
    }

    /// Every request's future is moved a few times on its way (boxed by the service, wrapped in
    /// spans): the direct path keeps the proxy's large future behind one box, so its own stays
    /// small (10 KB before, copied on each move; ~1.4 KB now).
    #[tokio::test]
    async fn the_direct_paths_future_stays_small() {
        let direct = Direct {
            state: state(),
            keys: keys(false),
            ids: CounterRequestId::default(),
        };
        let answer = direct.answer(DIRECT[0], chat(DIRECT[0]));
        let size = std::mem::size_of_val(&answer);
        assert!(size <= 2048, "the direct path's future is {size} bytes");
    }
}
