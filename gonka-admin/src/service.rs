//! [`run_server`]: what the `gonka-admin` binary runs once its flags are parsed (open the
//! registry, import the nodes file, serve the admin API), for embedding the same start-up.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use gonka_core::cross_site::SitePolicy;
use gonka_core::exposure::{check_listener, PrivateListener, UnauthenticatedListener};
use gonka_core::server::{ServeLimits, BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT};
use gonka_core::GovernanceModels;
use tokio::net::TcpListener;

use crate::import::{import_nodes_file, ImportError};
use crate::{
    open_registry, redact_url, AdminOptions, OpenError, DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT,
};

/// What [`run_server`] serves. Its `Debug` output shows the database URL redacted
/// ([`redact_url`]) and no token.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Registry database URL (see [`open_registry`]).
    pub database: String,
    /// Models nodes may serve.
    pub governance: GovernanceModels,
    /// Bearer token required on every call; `None` leaves the API open (keep it private). An
    /// empty token is a start-up error ([`RunError::EmptyToken`]), not "no token".
    pub token: Option<String>,
    /// JSON array of nodes imported at start-up (added / updated / unchanged / skipped).
    pub nodes_file: Option<PathBuf>,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Bytes of large request bodies handled at once ([`AdminOptions::body_budget`]).
    pub body_budget: usize,
    /// Time a client has to send a complete request head before its connection is closed.
    pub header_read_timeout: Duration,
    /// Longest pause between two parts of a request body before the request fails with 408.
    pub body_read_timeout: Duration,
    /// Accepted `Host` and `Origin` headers (see [`SitePolicy`]).
    pub sites: SitePolicy,
    /// Serve without a token on an address beyond loopback (logged as a warning); without it
    /// that is a start-up error ([`RunError::Unauthenticated`]).
    pub allow_unauthenticated: bool,
    /// Most connections open at once; more are answered 503 and closed. `None`: derived from the
    /// open-file limit (`gonka_core::server::default_max_connections`).
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address; more are answered 503 and closed.
    /// `None`: a quarter of the listener's cap.
    pub max_connections_per_ip: Option<usize>,
    /// Serve HTTPS with this certificate and key (feature `tls`); `None`: plain HTTP. The
    /// caller reloads it when it likes (the binary on `SIGHUP`).
    #[cfg(feature = "tls")]
    pub tls: Option<gonka_core::server::tls::TlsFiles>,
}

impl ServerConfig {
    /// The binary's defaults over `database`: the default governance list, no token, no nodes
    /// file, [`DEFAULT_BODY_LIMIT`], [`DEFAULT_BODY_BUDGET`], the shared read timeouts of
    /// `gonka_core::server` (30 s each) and its connection caps derived from the open-file limit,
    /// the default [`SitePolicy`], no unauthenticated listener beyond loopback.
    pub fn new(database: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            governance: GovernanceModels::default(),
            token: None,
            nodes_file: None,
            body_limit: DEFAULT_BODY_LIMIT,
            body_budget: DEFAULT_BODY_BUDGET,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            sites: SitePolicy::default(),
            allow_unauthenticated: false,
            max_connections: None,
            max_connections_per_ip: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Checks the settings before serving on `listen`: `Ok(Some(warning))` when the API will be
    /// reachable beyond loopback without a token but [`ServerConfig::allow_unauthenticated`]
    /// allows it (log it).
    ///
    /// # Errors
    /// [`RunError::EmptyToken`] for an empty token, [`RunError::Unauthenticated`] for an address
    /// beyond loopback without a token and without `allow_unauthenticated`.
    pub fn check(&self, listen: SocketAddr) -> Result<Option<String>, RunError> {
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(RunError::EmptyToken);
        }
        let listener = PrivateListener {
            what: "admin API (--listen)",
            addr: listen,
            authenticated: self.token.is_some(),
            remedy: "set --token (GONKA_ADMIN_TOKEN)",
        };
        Ok(check_listener(
            listener,
            self.allow_unauthenticated,
            "--allow-unauthenticated (GONKA_ADMIN_ALLOW_UNAUTHENTICATED)",
        )?)
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut f = f.debug_struct("ServerConfig");
        f.field("database", &redact_url(&self.database))
            .field("governance", &self.governance)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("nodes_file", &self.nodes_file)
            .field("body_limit", &self.body_limit)
            .field("body_budget", &self.body_budget)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("sites", &self.sites)
            .field("allow_unauthenticated", &self.allow_unauthenticated)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip);
        #[cfg(feature = "tls")]
        f.field("tls", &self.tls.as_ref().map(|t| t.cert_path()));
        f.finish()
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The registry could not be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The nodes file could not be imported.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The listener failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// The token is set but empty (`GONKA_ADMIN_TOKEN=`): refused rather than read as "no token".
    #[error(
        "the admin token is set but empty (--token / GONKA_ADMIN_TOKEN): give a token, or unset it \
         to serve without one"
    )]
    EmptyToken,
    /// The API would listen beyond loopback without a token.
    #[error(transparent)]
    Unauthenticated(#[from] UnauthenticatedListener),
}

/// Checks the settings ([`ServerConfig::check`] on the listener's address), opens the registry,
/// imports the nodes file, and serves the admin API on `listener` until `shutdown` completes.
///
/// # Errors
/// See [`RunError`].
pub async fn run_server(
    config: ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    if let Some(warning) = config.check(listener.local_addr()?)? {
        tracing::warn!("{warning}");
    }
    let registry = open_registry(&config.database).await?;
    tracing::info!(database = %redact_url(&config.database), "registry opened");
    let governance = config.governance;
    if let Some(path) = &config.nodes_file {
        let report = import_nodes_file(registry.as_ref(), path, &governance).await?;
        for e in &report.skipped {
            tracing::warn!(index = e.index, id = %e.id, reason = %e.error, "nodes file: node skipped");
        }
        tracing::info!(
            file = %path.display(),
            added = report.added,
            updated = report.updated,
            unchanged = report.unchanged,
            skipped_invalid = report.skipped.len(),
            "nodes file imported"
        );
    }
    if config.token.is_none() {
        tracing::info!("no admin token set: keep the admin API on a private address");
    }
    let options = AdminOptions {
        governance,
        token: config.token,
        body_limit: config.body_limit,
        body_budget: config.body_budget,
        sites: config.sites,
        ..AdminOptions::default()
    };
    let limits = ServeLimits::client_timeouts(config.header_read_timeout, config.body_read_timeout)
        .with_connection_caps(config.max_connections, config.max_connections_per_ip);
    let token = options.token.clone();
    let app = crate::router(registry.clone(), options).merge(crate::probe_router(registry));
    let app = crate::with_metrics(app, token.as_deref()).layer(axum::middleware::from_fn(
        gonka_core::trace_context::server_span,
    ));
    #[cfg(feature = "tls")]
    if let Some(tls) = config.tls {
        crate::server::run_with_tls(app, listener, limits, tls, shutdown).await?;
        return Ok(());
    }
    crate::run_with_limits(app, listener, limits, shutdown).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_database_password_and_the_token() {
        let mut c = ServerConfig::new("postgres://u:pw-s3cret@h/db");
        c.token = Some("tok-s3cret".into());
        let s = format!("{c:?}");
        assert!(!s.contains("s3cret"), "{s}");
        assert!(s.contains("postgres://u:***@h/db"), "{s}");
    }
}
