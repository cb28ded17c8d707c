//! Assembles the gateway: public router with its layers, the admin and PoC listeners, the
//! registry follower with health checks and broker, and graceful drain.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{require_api_key, ApiKeys};
use crate::broker::Broker;
use crate::error::{GatewayError, StartupError};
use crate::handlers::metrics::MetricsToken;
use crate::handlers::{completions, health, metrics, models};
use crate::metrics::Metrics;
use crate::mlnode_client::MlNodeClient;
use crate::pool::NodePool;
use crate::proxy::{Proxy, ProxySettings};
use crate::request_id::CounterRequestId;
use crate::supervisor::Supervisor;
use crate::GatewayConfig;

/// The sockets a gateway serves on. Bind them first (port 0 in tests) and pass them in.
#[derive(Debug)]
pub struct Listeners {
    /// Public OpenAI API (default `127.0.0.1:9000`).
    pub public: TcpListener,
    /// Admin API (default `127.0.0.1:9200`); `None` to not serve it.
    pub admin: Option<TcpListener>,
    /// PoC callbacks (default `127.0.0.1:9100`); `None` to not serve it.
    pub poc: Option<TcpListener>,
}

/// State shared by the public handlers: one shared allocation, so the copies axum makes of it
/// for every request cost one reference count each. Its parts are read through it
/// (`state.proxy`, ...).
#[derive(Debug, Clone)]
pub struct AppState(Arc<AppStateParts>);

impl AppState {
    /// The state made of `parts`.
    pub fn new(parts: AppStateParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateParts;

    fn deref(&self) -> &AppStateParts {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct AppStateParts {
    /// The proxy (and through it the pool).
    pub proxy: Arc<Proxy>,
    /// Metrics rendered at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Maximum request body in bytes.
    pub body_limit: usize,
    /// What `/readyz` and `/v1/status` check.
    pub readiness: health::ReadinessChecks,
}

impl axum::extract::FromRef<AppState> for health::ReadinessChecks {
    fn from_ref(state: &AppState) -> Self {
        state.readiness.clone()
    }
}

/// Who may read `/metrics` on a listener.
#[derive(Debug, Clone)]
pub enum MetricsAccess {
    /// Anyone.
    Open,
    /// Clients with one of the API keys (the public listener when keys are set).
    ApiKeys(ApiKeys),
    /// Clients with the metrics token.
    Token(MetricsToken),
    /// Not served on this listener (it has its own).
    NotServed,
}

impl MetricsAccess {
    /// The public listener's access under `config`: not served when `/metrics` has its own
    /// listener, else the metrics token when set, else the API keys when set, else open.
    pub fn public(config: &GatewayConfig) -> Self {
        if config.metrics_listen.is_some() {
            return Self::NotServed;
        }
        match Self::token(config) {
            Some(t) => t,
            None if !config.api_keys.is_empty() => Self::ApiKeys(ApiKeys::new(&config.api_keys)),
            None => Self::Open,
        }
    }

    /// The metrics listener's access under `config`: the metrics token when set, else open.
    pub fn dedicated(config: &GatewayConfig) -> Self {
        Self::token(config).unwrap_or(Self::Open)
    }

    fn token(config: &GatewayConfig) -> Option<Self> {
        config
            .metrics_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| Self::Token(MetricsToken(Arc::from(t))))
    }
}

/// `GET /metrics` behind `access` (no route for [`MetricsAccess::NotServed`]).
pub fn metrics_router(access: MetricsAccess) -> Router<AppState> {
    let route = Router::new().route("/metrics", get(metrics::metrics));
    match access {
        MetricsAccess::Open => route,
        MetricsAccess::ApiKeys(keys) => {
            route.layer(middleware::from_fn_with_state(keys, require_api_key))
        }
        MetricsAccess::Token(token) => route.layer(middleware::from_fn_with_state(
            token,
            metrics::require_metrics_token,
        )),
        MetricsAccess::NotServed => Router::new(),
    }
}

/// The request id header: set on every public request that lacks one, and copied to its answer.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn not_found() -> Response {
    GatewayError::UnknownEndpoint.into_response()
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    GatewayError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
    .into_response()
}

/// The request span (target `gonka_request`) of the public API's `TraceLayer`.
pub(crate) fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Target `gonka_request`: out of the logs unless RUST_LOG names it (a span per request).
    tracing::info_span!(
        target: "gonka_request",
        "request",
        method = %request.method(),
        uri = %request.uri(),
        request_id = %id,
    )
}

/// The public OpenAI API: `/v1/chat/completions`, `/v1/completions`, `/v1/models` (behind the
/// optional API keys), the probes `/livez`, `/readyz`, `/health` (liveness) and `/v1/status`
/// (readiness report), `/metrics` (behind the API keys too when they are set), and Ollama's
/// native API ([`crate::ollama`]: `/api/*` behind the API keys, `/`); every answer carries an
/// `x-request-id` (the client's, or a new one).
pub fn public_router(state: AppState, api_keys: ApiKeys) -> Router {
    public_router_with(state, api_keys, &[])
}

/// Routes of the public API that a passthrough route may not take.
const BUILT_IN_ROUTES: [&str; 8] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/models",
    "/livez",
    "/readyz",
    "/health",
    "/v1/status",
    "/metrics",
];

/// Checks operator-given passthrough routes: each starts with `/`, holds no route pattern
/// (`{`, `}`, `*`), is not a built-in route (`/api/...` is Ollama's API) and is given once.
///
/// # Errors
/// The first problem, naming the route.
pub fn check_passthrough_routes(routes: &[String]) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for r in routes {
        if !r.starts_with('/') || r.len() < 2 {
            return Err(format!(
                "passthrough route {r:?} must be a path starting with /"
            ));
        }
        if r.contains(['{', '}', '*', '?', '#', ' ']) {
            return Err(format!(
                "passthrough route {r:?} may not contain {{, }}, *, ?, # or spaces"
            ));
        }
        if BUILT_IN_ROUTES.contains(&r.as_str())
            || r.starts_with("/v1/models/")
            || r.starts_with("/api/")
        {
            return Err(format!("passthrough route {r:?} is a built-in route"));
        }
        if !seen.insert(r.as_str()) {
            return Err(format!("passthrough route {r:?} is given twice"));
        }
    }
    Ok(())
}

/// [`public_router`] plus `passthrough` routes: `POST` bodies with a `model`, routed like chat
/// completions to the same path on a node. Check them with [`check_passthrough_routes`]
/// first (an invalid or duplicate route panics here, as axum does).
pub fn public_router_with(state: AppState, api_keys: ApiKeys, passthrough: &[String]) -> Router {
    let access = if api_keys.is_empty() {
        MetricsAccess::Open
    } else {
        MetricsAccess::ApiKeys(api_keys.clone())
    };
    public_router_full(state, api_keys, passthrough, access)
}

/// [`public_router_with`] with `/metrics` behind `metrics` (or not served).
pub fn public_router_full(
    state: AppState,
    api_keys: ApiKeys,
    passthrough: &[String],
    metrics: MetricsAccess,
) -> Router {
    public_router_ids(
        state,
        api_keys,
        passthrough,
        metrics,
        CounterRequestId::default(),
    )
}

/// [`public_router_full`] making its request ids with `ids`.
fn public_router_ids(
    state: AppState,
    api_keys: ApiKeys,
    passthrough: &[String],
    metrics: MetricsAccess,
    ids: CounterRequestId,
) -> Router {
    let mut api = Router::new();
    for route in passthrough {
        let path: Arc<str> = Arc::from(route.as_str());
        api = api.route(
            route,
            post(
                move |axum::extract::State(state): axum::extract::State<AppState>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Body| {
                    let path = path.clone();
                    async move { completions::forward(&state, &path, headers, body).await }
                },
            ),
        );
    }
    let api = api
        .route("/v1/chat/completions", post(completions::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/models", get(models::list_models))
        .route("/v1/models/{*id}", get(models::retrieve_model))
        .layer(middleware::from_fn_with_state(
            api_keys.clone(),
            require_api_key,
        ));
    Router::new()
        .merge(api)
        .merge(crate::ollama::router(api_keys))
        .route("/livez", get(health::health))
        .route("/readyz", get(health::readyz))
        .route("/health", get(health::health))
        .route("/v1/status", get(health::status))
        .merge(metrics_router(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(REQUEST_ID, ids))
}

/// A started gateway. Dropping it does not stop it; call [`RunningGateway::shutdown`].
#[derive(Debug)]
pub struct RunningGateway {
    /// The node pool (live view of every node).
    pub pool: Arc<NodePool>,
    /// The gateway's metrics.
    pub metrics: Arc<Metrics>,
    /// Address of the public API.
    pub public_addr: SocketAddr,
    /// Whether the public API is served over TLS.
    pub tls: bool,
    /// Address of the admin API, when served.
    pub admin_addr: Option<SocketAddr>,
    /// Address of the PoC listener, when served.
    pub poc_addr: Option<SocketAddr>,
    /// The deployment view routing by model route, when deployments are on.
    pub deploy_routes: Option<Arc<crate::deploy_routes::DeployRoutes>>,
    /// Address of the metrics listener, when `/metrics` has its own
    /// ([`GatewayConfig::metrics_listen`]).
    pub metrics_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    servers: JoinSet<()>,
    background: JoinSet<()>,
    drain_timeout: std::time::Duration,
    /// The request trace writer: ends once the servers are gone and its channel is drained.
    trace_writer: Option<tokio::task::JoinHandle<()>>,
}

impl RunningGateway {
    /// `public http://A, admin http://B, poc http://C` (the listeners served).
    pub fn addresses(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let mut s = format!("public {scheme}://{}", self.public_addr);
        if let Some(a) = self.admin_addr {
            s.push_str(&format!(", admin http://{a}"));
        }
        if let Some(p) = self.poc_addr {
            s.push_str(&format!(", poc http://{p}"));
        }
        if let Some(m) = self.metrics_addr {
            s.push_str(&format!(", metrics http://{m}/metrics"));
        }
        s
    }

    /// Stops accepting, lets in-flight requests finish up to the drain timeout, then stops.
    pub async fn shutdown(mut self) {
        tracing::info!("gateway draining");
        self.pool.close();
        let _ = self.stop.send(true);
        let drain = async { while self.servers.join_next().await.is_some() {} };
        if tokio::time::timeout(self.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = self.pool.in_flight(),
                "drain timeout reached; closing remaining requests"
            );
            self.servers.abort_all();
        }
        self.background.abort_all();
        if let Some(mut writer) = self.trace_writer.take() {
            // The traces of the drained requests are still queued: let the writer store them.
            if tokio::time::timeout(TRACE_FLUSH_TIMEOUT, &mut writer)
                .await
                .is_err()
            {
                tracing::warn!("request traces still queued at shutdown were not stored");
                writer.abort();
            }
        }
        tracing::info!("gateway stopped");
    }
}

fn local_addr(l: &TcpListener) -> Result<SocketAddr, StartupError> {
    l.local_addr().map_err(StartupError::ListenerAddress)
}

/// Starts the gateway on `listeners` and returns at once.
///
/// # Errors
/// `ListenerAddress` when a listener has no address.
pub fn start(config: GatewayConfig, listeners: Listeners) -> Result<RunningGateway, StartupError> {
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(bind_now("metrics (--metrics-listen)", addr)?),
        None => None,
    };
    let metrics = Arc::new(Metrics::for_timeouts(
        config.queue_timeout,
        config.request_timeout,
    ));
    let pool = Arc::new(NodePool::new(
        config.scheduler.clone(),
        config.epoch.clone(),
        config.queue_capacity,
        config.breaker_threshold,
    ));
    let fleet = crate::fleet::Fleet::new(
        pool.clone(),
        MlNodeClient::default().with_token(config.mlnode_token.clone().unwrap_or_default()),
        config.registry.clone(),
        config.governance.clone(),
        config.fleet.clone(),
    );
    let deploy_routes = config.deployments.clone().map(|store| {
        Arc::new(crate::deploy_routes::DeployRoutes::new(store).with_pool(pool.clone()))
    });
    let proxy = Proxy::new(
        pool.clone(),
        metrics.clone(),
        ProxySettings {
            max_tries: config.max_tries,
            queue_timeout: config.queue_timeout,
            request_timeout: config.request_timeout,
            idle_timeout: config.idle_timeout,
            upstream_idle_timeout: config.upstream_idle_timeout,
            fallbacks: config.fallbacks.clone(),
            context_protection: config.context_protection,
        },
    )?
    .with_fleet(fleet.clone())
    .with_deploy_routes(deploy_routes.clone());
    let (proxy, trace_writer) = with_trace_writer(proxy, &config, &metrics);
    let proxy = Arc::new(proxy);
    let broker = Broker {
        registry: config.registry.clone(),
        pool: pool.clone(),
        client: MlNodeClient::default().with_token(config.mlnode_token.clone().unwrap_or_default()),
        metrics: metrics.clone(),
        interval: config.reconcile_interval,
        timeout: config.broker_timeout,
        up_timeout: config.broker_up_timeout,
    };
    let supervisor = Supervisor::new(
        config.registry.clone(),
        pool.clone(),
        broker,
        crate::health::CheckTiming {
            interval: config.health_interval,
            recovery: config.health_recovery_interval,
            timeout: config.health_timeout,
        },
    );
    let mut background = JoinSet::new();
    background.spawn(supervisor.run());
    background.spawn(
        fleet
            .clone()
            .upkeep(config.fleet.reap_after.unwrap_or(config.request_timeout)),
    );

    let readiness = health::ReadinessChecks {
        registry: config.registry.clone(),
        pool: pool.clone(),
        ready_without_nodes: config.ready_without_nodes,
        registry_timeout: gonka_core::server::probe::REGISTRY_CHECK_TIMEOUT,
    };
    let (stop, stopped) = watch::channel(false);
    if let Some(store) = config.deployments.clone() {
        // Unique per process, also across hosts and containers that share a pid and address.
        let replica_id = format!(
            "gateway-{}-{}-{:08x}",
            public_addr_hint(&listeners),
            std::process::id(),
            rand::random::<u32>()
        );
        let presence = crate::presence::Presence {
            store: store.clone(),
            pool: pool.clone(),
            id: replica_id.clone(),
            interval: std::time::Duration::from_secs(1),
        };
        // The first beat is at once (the loop's first tick): a replica joining a busy fleet
        // takes its share within moments of starting.
        background.spawn(presence.run(stopped.clone()));
        let driver = crate::task_driver::TaskDriver::new(
            store.clone(),
            Arc::new(crate::task_driver::PoolNodes(pool.clone())),
            MlNodeClient::default().with_token(config.mlnode_token.clone().unwrap_or_default()),
            replica_id.clone(),
            crate::task_driver::DriverSettings {
                health_interval: config.task_health.interval,
                health_timeout: config.task_health.timeout,
                ..crate::task_driver::DriverSettings::default()
            },
        );
        let placer = crate::placer::Placer {
            store,
            fleet: Arc::new(crate::admin::PoolGpus(pool.clone())),
            plugin: config.placement_plugin,
            thresholds: gonka_core::deploy::placement::Thresholds::default(),
            interval: std::time::Duration::from_secs(1),
            holder: replica_id,
        };
        if config.drive_deployments {
            background.spawn(placer.run(stopped.clone()));
            background.spawn(driver.run(stopped.clone()));
        }
    }
    if let Some(routes) = &deploy_routes {
        let interval = crate::deploy_routes::REFRESH_INTERVAL;
        background.spawn(routes.clone().run(interval, stopped.clone()));
        let monitor = crate::task_health::TaskHealthMonitor::new(
            routes.clone(),
            Arc::new(crate::task_driver::PoolNodes(pool.clone())),
            config.task_health,
        );
        background.spawn(monitor.run(stopped.clone()));
        metrics.set_task_health(routes.health().clone());
    }
    let mut servers = JoinSet::new();
    let public_addr = local_addr(&listeners.public)?;
    let state = AppState::new(AppStateParts {
        proxy,
        metrics: metrics.clone(),
        body_limit: config.body_limit,
        readiness: readiness.clone(),
    });
    check_passthrough_routes(&config.passthrough_routes).map_err(StartupError::Config)?;
    let metrics_state = state.clone();
    let direct_state = state.clone();
    let request_ids = CounterRequestId::default();
    let api_keys = ApiKeys::new(&config.api_keys).with_endpoint_keys(deploy_routes.clone());
    let mut public = public_router_ids(
        state,
        api_keys.clone(),
        &config.passthrough_routes,
        MetricsAccess::public(&config),
        request_ids.clone(),
    );
    let poc_listen_addr = match &listeners.poc {
        Some(l) => Some(local_addr(l)?),
        None => None,
    };
    let poc_service = config.poc.clone().map(|poc| {
        crate::poc::PocService::new(poc, config.registry.clone(), poc_listen_addr, public_addr)
    });
    if let Some(service) = &poc_service {
        metrics.set_poc(service.clone());
        // Merged routes keep axum's empty 405 unless given the OpenAI-shaped one again.
        public = public
            .merge(crate::poc::participants_router(service.clone()))
            .method_not_allowed_fallback(method_not_allowed);
        background.spawn(crate::poc::driver::run_driver(service.clone()));
    }
    if !config.cors_origins.is_empty() {
        public =
            public.layer(crate::cors::layer(&config.cors_origins).map_err(StartupError::Config)?);
    }
    let limits = crate::http_serve::limits(config.header_read_timeout, config.body_read_timeout)
        .with_connection_caps(config.max_connections, config.max_connections_per_ip);
    // The completion routes skip the router's machinery (`public_service`), unless a CORS layer
    // must see them too.
    let direct = config
        .cors_origins
        .is_empty()
        .then_some((direct_state, api_keys, request_ids));
    let public = crate::public_service::PublicService::new(with_server_span(public), direct);
    match config.tls.clone() {
        Some(tls) => {
            let mut stopped = stopped.clone();
            servers.spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                let served =
                    gonka_core::server::serve_tls(listeners.public, public, limits, tls, shutdown);
                if let Err(e) = served.await {
                    tracing::error!(listener = "public", error = %e, "server failed");
                }
            });
        }
        None => serve(
            &mut servers,
            "public",
            listeners.public,
            public,
            limits,
            stopped.clone(),
        ),
    }
    let admin_addr = match listeners.admin {
        Some(l) => {
            let addr = local_addr(&l)?;
            if let Some(mdns) = &config.fleet.mdns {
                match crate::fleet::mdns::advertise(addr, mdns) {
                    // Held by a background task: withdrawn when the gateway stops.
                    Ok(advertiser) => {
                        background.spawn(async move {
                            let _advertiser = advertiser;
                            std::future::pending::<()>().await;
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "mDNS advertisement failed"),
                }
            }
            serve(
                &mut servers,
                "admin",
                l,
                with_server_span(
                    crate::admin::admin_router(&config)
                        .merge(crate::admin::deploy_router(
                            &config,
                            pool.clone(),
                            deploy_routes.as_ref().map(|r| r.health().clone()),
                        ))
                        .merge(probe_router(readiness.clone()))
                        .merge(crate::admin::protect(
                            crate::fleet::router(fleet.clone()),
                            &config,
                        ))
                        .merge(crate::dashboard::router(
                            crate::dashboard::DashboardState {
                                readiness,
                                poc: crate::dashboard::poc::PocView {
                                    epoch: config.epoch.clone(),
                                    service: poc_service.clone(),
                                },
                            },
                            &config,
                        ))
                        .merge(crate::traces::api::router(
                            crate::traces::api::TraceApiState {
                                store: config.traces.clone(),
                                pool: pool.clone(),
                                metrics: metrics.clone(),
                            },
                            &config,
                        )),
                ),
                limits,
                stopped.clone(),
            );
            Some(addr)
        }
        None => None,
    };
    let poc_addr = match listeners.poc {
        Some(l) => {
            let addr = local_addr(&l)?;
            let router = match &poc_service {
                Some(service) => crate::poc::receiver_router(service.clone()),
                None => crate::poc::poc_router(),
            }
            .layer(axum::middleware::from_fn(
                crate::cross_site::refuse_browsers,
            ));
            serve(
                &mut servers,
                "poc",
                l,
                with_server_span(router),
                limits,
                stopped.clone(),
            );
            Some(addr)
        }
        None => None,
    };
    let metrics_addr = match metrics_listener {
        Some(l) => {
            let addr = local_addr(&l)?;
            let router = metrics_router(MetricsAccess::dedicated(&config))
                .route("/livez", get(health::health))
                .fallback(not_found)
                .with_state(metrics_state);
            serve(
                &mut servers,
                "metrics",
                l,
                with_server_span(router),
                limits,
                stopped,
            );
            Some(addr)
        }
        None => None,
    };
    tracing::info!(%public_addr, ?admin_addr, ?poc_addr, ?metrics_addr, policy = config.scheduler.name(), "gateway listening");
    Ok(RunningGateway {
        pool,
        metrics,
        public_addr,
        tls: config.tls.is_some(),
        admin_addr,
        poc_addr,
        deploy_routes,
        metrics_addr,
        stop,
        servers,
        background,
        drain_timeout: config.drain_timeout,
        trace_writer,
    })
}

/// Longest wait at shutdown for the trace writer to store the traces still queued.
const TRACE_FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `proxy` recording traces into `config.traces` through a bounded channel, and the writer
/// task reading it (see [`crate::traces`]); `proxy` unchanged when traces are off.
fn with_trace_writer(
    proxy: Proxy,
    config: &GatewayConfig,
    metrics: &Arc<Metrics>,
) -> (Proxy, Option<tokio::task::JoinHandle<()>>) {
    let Some(store) = config.traces.clone() else {
        return (proxy, None);
    };
    let (recorder, rx) = crate::traces::channel(
        &config.trace_settings,
        metrics.clone(),
        !config.api_keys.is_empty(),
    );
    let writer = tokio::spawn(crate::traces::run_writer(store, rx, config.trace_settings));
    (proxy.with_traces(recorder), Some(writer))
}

/// A name for this replica in leases: its public listener's address, unique on a host.
fn public_addr_hint(listeners: &Listeners) -> String {
    listeners
        .public
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// `/livez` and `/readyz` for the admin listener (the same checks as the public listener's).
fn probe_router(readiness: health::ReadinessChecks) -> Router {
    Router::new()
        .route("/livez", get(health::health))
        .route("/readyz", get(health::readyz))
        .with_state(readiness)
}

/// Binds `addr` at once (from inside the runtime), naming the listener in the error.
fn bind_now(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartupError> {
    let bound = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpListener::from_std);
    bound.map_err(|source| StartupError::Bind { what, addr, source })
}

/// `router` with a server span per request, child of the client's `traceparent` (every
/// listener has it).
fn with_server_span(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(
        gonka_core::trace_context::server_span,
    ))
}

fn serve(
    set: &mut JoinSet<()>,
    name: &'static str,
    listener: TcpListener,
    service: impl gonka_core::server::HttpService,
    limits: crate::http_serve::ServeLimits,
    mut stopped: watch::Receiver<bool>,
) {
    set.spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = crate::http_serve::serve(listener, service, limits, shutdown).await {
            tracing::error!(listener = name, error = %e, "server failed");
        }
    });
}

/// Runs a gateway until `shutdown` resolves, then drains (see [`RunningGateway::shutdown`]).
///
/// # Errors
/// As [`start`].
pub async fn run(
    config: GatewayConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartupError> {
    let gateway = start(config, listeners)?;
    shutdown.await;
    gateway.shutdown().await;
    Ok(())
}
