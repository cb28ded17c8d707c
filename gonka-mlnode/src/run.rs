//! [`run`]: the whole agent on two listeners until shutdown.

use std::future::Future;
use std::sync::Arc;

use gonka_core::server::{serve, ServeLimits};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, UpRequest};
use crate::engine::leftovers::StateDir;
use crate::{mgmt, proxy, MlNodeConfig};

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A listener failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// An engine could not be stopped at shutdown.
    #[error("engine shutdown failed: {0}")]
    Shutdown(String),
    /// The model to bring up at start was refused.
    #[error("cannot bring up the start model: {0}")]
    StartModel(String),
    /// The state directory cannot be created or locked (another agent uses it).
    #[error("{0}")]
    StateDir(String),
    /// Joining the gateway (`--gateway-url`) is misconfigured.
    #[error("cannot join the gateway: {0}")]
    Join(String),
}

/// Runs the ML node agent: the management API on `mgmt`, the inference proxy on `inference`,
/// until `shutdown` resolves; then stops serving (open connections get
/// [`MlNodeConfig::drain_timeout`]) and stops every engine, task instances included (SIGTERM,
/// SIGKILL after the grace period), so no child process outlives the call. With
/// [`MlNodeConfig::model`] set, that model is brought up at start (in the background, like an
/// `inference/up`). With [`MlNodeConfig::state_dir`] set, the directory is locked for the agent's
/// lifetime and engines a killed predecessor left running are stopped first (SIGTERM to their
/// process group, SIGKILL after the grace period).
///
/// # Errors
/// [`RunError::StateDir`] when the state directory cannot be created or another agent holds it,
/// [`RunError::StartModel`] when the start model is invalid (returned at once, after stopping),
/// [`RunError::Io`] for a listener failure, [`RunError::Shutdown`] when an engine would not stop.
pub async fn run(
    config: MlNodeConfig,
    mgmt: TcpListener,
    inference: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let agent = Agent::new(config);
    run_agent(agent, mgmt, inference, shutdown).await
}

/// [`run`] with an agent built by the caller (e.g. [`Agent::with_factory`] for custom engines).
///
/// # Errors
/// As [`run`].
pub async fn run_agent(
    agent: Arc<Agent>,
    mgmt: TcpListener,
    inference: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let config = agent.config().clone();
    let mgmt_addr = mgmt.local_addr()?;
    let inference_addr = inference.local_addr()?;
    if config.token.is_none() && !mgmt_addr.ip().is_loopback() {
        tracing::warn!(%mgmt_addr, "management API listens beyond loopback without a token: anyone who reaches it can start and stop engines (set --token)");
    }
    // Held (locked) until the agent returns; engines a killed predecessor left are stopped
    // before anything is served.
    let _state_dir = match &config.state_dir {
        Some(dir) => {
            let state = StateDir::open(dir).map_err(|e| RunError::StateDir(e.to_string()))?;
            state.stop_leftovers(config.grace_period).await;
            Some(state)
        }
        None => None,
    };
    tracing::info!(%mgmt_addr, %inference_addr, engine = %config.engine, "ML node agent started");

    let stop = CancellationToken::new();
    let limits = ServeLimits {
        drain: Some(config.drain_timeout),
        ..ServeLimits::default()
    }
    .with_connection_caps(config.max_connections, config.max_connections_per_ip);
    let mgmt_server = tokio::spawn(serve(
        mgmt,
        mgmt::router(Arc::clone(&agent)).layer(axum::middleware::from_fn(
            gonka_core::trace_context::server_span,
        )),
        limits,
        stop.clone().cancelled_owned(),
    ));
    let proxy_server = tokio::spawn(serve(
        inference,
        proxy::router(Arc::clone(&agent)).layer(axum::middleware::from_fn(
            gonka_core::trace_context::server_span,
        )),
        limits,
        stop.clone().cancelled_owned(),
    ));

    let joining = match config.join.clone() {
        Some(settings) => {
            if let Err(e) = settings.check(config.model.as_deref()) {
                stop.cancel();
                let _ = mgmt_server.await;
                let _ = proxy_server.await;
                return Err(RunError::Join(e.to_string()));
            }
            Some(tokio::spawn(crate::join::run(
                settings,
                mgmt_addr,
                inference_addr,
                config.model.clone(),
                config.token.clone(),
                stop.child_token(),
            )))
        }
        None => None,
    };
    let mut start_error = None;
    if let Some(model) = config.model.clone() {
        let request = UpRequest {
            model,
            dtype: config.dtype.clone(),
            additional_args: config.model_args.clone(),
        };
        if let Err(e) = agent.up(request).await {
            start_error = Some(e.to_string());
        }
    }
    if start_error.is_none() {
        shutdown.await;
    }
    tracing::info!("ML node agent shutting down");
    stop.cancel();
    if let Some(joining) = joining {
        // Heartbeats stop first (and the node is deregistered when so configured).
        let _ = joining.await;
    }
    let mgmt_result = mgmt_server.await;
    let proxy_result = proxy_server.await;
    let engines = agent.down().await;
    agent.tasks().stop_all().await;
    tracing::info!("ML node agent stopped");
    if let Some(e) = start_error {
        return Err(RunError::StartModel(e));
    }
    for result in [mgmt_result, proxy_result] {
        match result {
            Ok(r) => r?,
            Err(e) => return Err(RunError::Io(std::io::Error::other(e))),
        }
    }
    engines.map_err(|e| RunError::Shutdown(e.to_string()))
}
