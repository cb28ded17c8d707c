//! [`open_registry`] and [`open_trace_store`]: pick the backend from a database URL.

use std::sync::Arc;

use gonka_core::{MemoryRegistry, MemoryTraceStore, NodeRegistry, TraceStore};

use crate::{PostgresRegistry, SqliteRegistry};

/// Why a registry could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL is malformed or has an unknown scheme.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given, its passwords redacted ([`crate::redact_url`]).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend exists in the design but is not implemented yet.
    #[error("{scheme} registries are not supported yet; use sqlite://PATH or memory:")]
    Unsupported {
        /// The URL scheme, e.g. `postgres`.
        scheme: String,
    },
    /// The database could not be opened.
    #[error("cannot open database: {0}")]
    Database(#[source] sqlx::Error),
    /// The schema migrations failed.
    #[error("cannot migrate database schema: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database opened but its registry could not be read (e.g. a corrupt row).
    #[error("cannot read the registry: {0}")]
    Registry(#[source] gonka_core::Error),
    /// A file-system error (e.g. creating a temporary directory).
    #[error("I/O error: {0}")]
    Io(#[source] std::io::Error),
}

/// Opens the registry named by `url`:
/// - `sqlite://PATH` / `sqlite:PATH` / `sqlite::memory:` → [`SqliteRegistry`] (file created if
///   missing);
/// - `memory:` → [`MemoryRegistry`] (nothing persisted);
/// - `postgres://...` / `postgresql://...` → [`PostgresRegistry`] (migrations applied, change
///   feed across replicas).
///
/// # Errors
/// See [`OpenError`].
pub async fn open_registry(url: &str) -> Result<Arc<dyn NodeRegistry>, OpenError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Arc::new(SqliteRegistry::connect(url).await?)),
        "memory" => Ok(Arc::new(MemoryRegistry::new())),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresRegistry::connect(url).await?)),
        _ => Err(OpenError::InvalidUrl {
            url: crate::redact_url(url),
            reason: "expected a URL starting with sqlite:, postgres: or memory:".into(),
        }),
    }
}

/// Opens the request trace store on the database named by `url`, as [`open_registry`] opens the
/// registry (the same URL gives the same database: the table `request_traces` lives next to the
/// registry's):
/// - `sqlite:...` → [`crate::SqliteTraceStore`] (`sqlite::memory:`: a private in-memory one);
/// - `memory:` → [`gonka_core::MemoryTraceStore`] (bounded, nothing persisted);
/// - `postgres://...` / `postgresql://...` → [`crate::PostgresTraceStore`].
///
/// # Errors
/// See [`OpenError`].
pub async fn open_trace_store(url: &str) -> Result<Arc<dyn TraceStore>, OpenError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Arc::new(crate::SqliteTraceStore::connect(url).await?)),
        "memory" => Ok(Arc::new(MemoryTraceStore::new())),
        "postgres" | "postgresql" => Ok(Arc::new(crate::PostgresTraceStore::connect(url).await?)),
        _ => Err(OpenError::InvalidUrl {
            url: crate::redact_url(url),
            reason: "expected a URL starting with sqlite:, postgres: or memory:".into(),
        }),
    }
}

/// The [`DeploymentStore`](gonka_core::deploy::DeploymentStore) on the database at `url`, as
/// [`open_registry`] takes it: SQLite (`sqlite:`), PostgreSQL (`postgres:`/`postgresql:`) or in
/// memory (`memory:`). Deployments share the registry's database.
///
/// # Errors
/// [`OpenError`] when the URL is not one of those or the database cannot be opened.
pub async fn open_deployment_store(
    url: &str,
) -> Result<Arc<dyn gonka_core::deploy::DeploymentStore>, OpenError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Arc::new(crate::SqliteDeploymentStore::connect(url).await?)),
        "memory" => Ok(Arc::new(gonka_core::deploy::MemoryDeploymentStore::new())),
        "postgres" | "postgresql" => Ok(Arc::new(
            crate::PostgresDeploymentStore::connect(url).await?,
        )),
        _ => Err(OpenError::InvalidUrl {
            url: crate::redact_url(url),
            reason: "expected a URL starting with sqlite:, postgres: or memory:".into(),
        }),
    }
}

/// `e` with every secret of `url` removed from its message: a database server or parser that
/// echoes part of a malformed URL (a password read as a database name, say) leaks nothing. An
/// error whose message had to change keeps its variant, its cause reduced to the cleaned text.
pub(crate) fn without_secrets(url: &str, e: OpenError) -> OpenError {
    let clean = |inner: &dyn std::fmt::Display| {
        let text = inner.to_string();
        let scrubbed = crate::redact::scrub(url, &text);
        (scrubbed != text).then_some(scrubbed)
    };
    match e {
        OpenError::InvalidUrl { url: shown, reason } => OpenError::InvalidUrl {
            url: crate::redact::scrub(url, &shown),
            reason: crate::redact::scrub(url, &reason),
        },
        OpenError::Database(inner) => match clean(&inner) {
            Some(text) => OpenError::Database(sqlx::Error::Configuration(text.into())),
            None => OpenError::Database(inner),
        },
        OpenError::Migrate(inner) => match clean(&inner) {
            Some(text) => OpenError::Migrate(sqlx::migrate::MigrateError::Execute(
                sqlx::Error::Configuration(text.into()),
            )),
            None => OpenError::Migrate(inner),
        },
        OpenError::Registry(inner) => match clean(&inner) {
            Some(text) => OpenError::Registry(gonka_core::Error::Unavailable(text.into())),
            None => OpenError::Registry(inner),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn postgres_url_selects_postgres_and_reports_an_unreachable_server() {
        // Port 1 on loopback refuses connections: the Postgres backend was chosen and failed.
        let e = open_registry("postgresql://u:pw@127.0.0.1:1/db")
            .await
            .unwrap_err();
        assert!(matches!(e, OpenError::Database(_)), "{e}");
        assert!(e.to_string().starts_with("cannot open database"), "{e}");
    }

    #[tokio::test]
    async fn unknown_scheme_is_an_invalid_url() {
        let e = open_registry("mysql://x").await.unwrap_err();
        assert!(matches!(e, OpenError::InvalidUrl { .. }), "{e}");
        let e = open_registry("gonka.db").await.unwrap_err();
        assert!(e.to_string().contains("sqlite:"), "{e}");
    }

    #[tokio::test]
    async fn memory_and_sqlite_urls_open() {
        let m = open_registry("memory:").await.unwrap();
        assert!(m.list().await.unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let s = open_registry(&url).await.unwrap();
        assert!(s.list().await.unwrap().is_empty());
        assert!(dir.path().join("new.db").exists(), "file must be created");
    }
}
