//! [`open_registry`]: pick the registry backend from a database URL.

use std::sync::Arc;

use gonka_core::{MemoryRegistry, NodeRegistry};

use crate::{PostgresRegistry, SqliteRegistry};

/// Why a registry could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL is malformed or has an unknown scheme.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
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
            url: url.to_owned(),
            reason: "expected a URL starting with sqlite:, postgres: or memory:".into(),
        }),
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
