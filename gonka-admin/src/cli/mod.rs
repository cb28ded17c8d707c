//! The `gonka-admin` binary's library half: command-line [`Args`], start-up ([`run`]), the
//! nodes-file import and logging, reusable by the gateway.

mod import;
mod logging;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;

use gonka_core::GovernanceModels;
use tokio::net::TcpListener;

pub use import::{import_nodes, import_nodes_file, ImportError, ImportReport};
pub use logging::{init_logging, LogFormat};

use crate::{open_registry, AdminOptions, OpenError, DEFAULT_BODY_LIMIT};

/// Command line of `gonka-admin`; every flag also reads an environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gonka-admin",
    version,
    about = "Admin API of a Gonka network node: register, update, enable/disable and delete ML nodes",
    long_about = None
)]
pub struct Args {
    /// Address to listen on. Keep it private: the admin API must not face the internet.
    #[arg(long, env = "GONKA_ADMIN_LISTEN", default_value = "127.0.0.1:9200")]
    pub listen: SocketAddr,
    /// Registry database: sqlite://PATH (created if missing), postgres://USER:PASS@HOST/DB (shared by several
    /// gateway replicas), or memory: (nothing persisted).
    #[arg(long, env = "GONKA_DATABASE_URL", default_value = "sqlite://gonka.db")]
    pub database: String,
    /// Comma-separated governance models, replacing the default list of five.
    #[arg(long, env = "GONKA_GOVERNANCE_MODELS", value_name = "A,B,...")]
    pub models: Option<String>,
    /// Require `Authorization: Bearer <TOKEN>` on every call.
    #[arg(long, env = "GONKA_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// JSON array of nodes to import at start-up (added / updated / unchanged / skipped).
    #[arg(long, env = "GONKA_NODES_FILE", value_name = "node-config.json")]
    pub nodes_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "GONKA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "GONKA_ADMIN_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
}

impl Args {
    /// The governance list: `--models` when given (and non-empty), else the default five.
    pub fn governance(&self) -> GovernanceModels {
        self.models
            .as_deref()
            .map(GovernanceModels::parse_list)
            .filter(|g| !g.is_empty())
            .unwrap_or_default()
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
}

/// Opens the registry, imports `--nodes-file`, and serves the admin API on `listener` until
/// `shutdown` completes.
///
/// # Errors
/// See [`RunError`].
pub async fn run(
    args: Args,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let registry = open_registry(&args.database).await?;
    tracing::info!(database = %redact_url(&args.database), "registry opened");
    let governance = args.governance();
    if let Some(path) = &args.nodes_file {
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
    if args.token.is_none() {
        tracing::info!("no admin token set: keep the admin API on a private address");
    }
    let options = AdminOptions {
        governance,
        token: args.token.clone(),
        body_limit: args.body_limit,
        ..AdminOptions::default()
    };
    crate::run(crate::router(registry, options), listener, shutdown).await?;
    Ok(())
}

pub use gonka_core::server::shutdown_signal;

/// The URL without a password (`postgres://user:***@host/db`), for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_match_the_design() {
        let a = Args::try_parse_from(["gonka-admin"]).unwrap();
        assert_eq!(a.listen.to_string(), "127.0.0.1:9200");
        assert_eq!(a.database, "sqlite://gonka.db");
        assert_eq!(a.governance(), GovernanceModels::default());
        assert_eq!(a.body_limit, 8 * 1024 * 1024);
    }

    #[test]
    fn models_flag_replaces_the_governance_list() {
        let a = Args::try_parse_from(["gonka-admin", "--models", "x/a, y/b"]).unwrap();
        assert_eq!(
            a.governance().iter().collect::<Vec<_>>(),
            vec!["x/a", "y/b"]
        );
    }

    #[test]
    fn bad_listen_address_is_rejected() {
        assert!(Args::try_parse_from(["gonka-admin", "--listen", "nope"]).is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite://gonka.db"), "sqlite://gonka.db");
    }
}
