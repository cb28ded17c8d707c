//! [`PostgresRegistry`]: the registry shared by several gateway replicas (PostgreSQL).
//!
//! Requirements: PostgreSQL 13 or newer (`gen_random_uuid`); the role in the URL may create
//! tables in the database's default schema (the migrations run at connect). Every replica points
//! `--database` at the same `postgres://user:password@host:port/db`.
//!
//! Files: `rows.rs` (SQL for rows, the counter and the registry version), `cache.rs` (the
//! in-memory list, revalidated by the registry version), `notice.rs` (NOTIFY payloads),
//! `listener.rs` (the cross-process change feed), and the SQLite backend's `plan.rs` (upsert
//! planning, shared so both backends decide conflicts and numbers alike).

mod cache;
pub(crate) mod deploy;
mod listener;
mod notice;
// The SQLite registry's upsert planning, shared word for word (conflict messages, numbering) and
// compiled here as well, so both backends decide alike without the SQLite module exporting it.
#[allow(clippy::duplicate_mod)]
#[path = "../sqlite/plan.rs"]
mod plan;
mod rows;
pub(crate) mod traces;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gonka_core::{
    apply_status_update, BatchItemResult, Error, NodeConfig, NodeRecord, NodeRegistry,
    RegistryEvent, Result, StatusUpdate, WATCH_CAPACITY,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{broadcast, Mutex};

use crate::open::OpenError;
use crate::redact::{redact_url as redact, scrub};
use plan::Plan;
use rows::unavailable;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations_pg");

/// How long a call waits for a database connection before answering `Unavailable`.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Longest a write transaction may take before it is abandoned (rolled back) and answered
/// `Unavailable`: a database that stops answering without closing connections must not hang
/// admin requests.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// Connections per registry (one of them is held by the change-feed listener).
const MAX_CONNECTIONS: u32 = 8;

/// The connection parameters sqlx reads from a PostgreSQL URL's query.
const KNOWN_PARAMETERS: [&str; 17] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
];

/// Refuses a query parameter sqlx does not know (`?passwd=...`) before sqlx sees it: sqlx would
/// log it, value and all, and ignore it.
fn check_parameters(url: &str) -> std::result::Result<(), OpenError> {
    let Some((_, query)) = url.split_once('?') else {
        return Ok(());
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        if !(KNOWN_PARAMETERS.contains(&name) || name == "options" || name.starts_with("options["))
        {
            return Err(OpenError::InvalidUrl {
                url: redact(url),
                reason: scrub(
                    url,
                    &format!(
                        "unknown connection parameter `{name}`; expected one of {}, options",
                        KNOWN_PARAMETERS.join(", ")
                    ),
                ),
            });
        }
    }
    Ok(())
}

/// A pool of at most `max_connections` on the database at `url`, with the embedded migrations
/// applied (the registry's and the request traces' tables). A first direct connection checks
/// that the server answers, so its error names the cause.
pub(crate) async fn open_pool(
    url: &str,
    max_connections: u32,
) -> std::result::Result<PgPool, OpenError> {
    check_parameters(url)?;
    let options = PgConnectOptions::from_str(url).map_err(|e| OpenError::InvalidUrl {
        url: redact(url),
        reason: scrub(url, &e.to_string()),
    })?;
    // One direct connection first: its error names the cause (refused, authentication,
    // unknown database) where a pool would only report a timeout.
    let probe = tokio::time::timeout(
        DEFAULT_ACQUIRE_TIMEOUT,
        PgConnection::connect_with(&options),
    )
    .await
    .unwrap_or_else(|_| {
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer from the PostgreSQL server within {DEFAULT_ACQUIRE_TIMEOUT:?}"),
        )))
    })
    .map_err(OpenError::Database)?;
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    MIGRATOR.run(&pool).await.map_err(OpenError::Migrate)?;
    Ok(pool)
}

/// State shared by the registry and its listener task.
#[derive(Debug)]
struct Shared {
    pool: PgPool,
    /// Serializes this value's writes (and feed resolution) so events leave in commit order.
    write: Mutex<()>,
    events: broadcast::Sender<RegistryEvent>,
    /// Random id of this registry value, carried in its notifications.
    origin: String,
    /// The last full list and the registry version it belongs to.
    cache: cache::ListCache,
}

impl Shared {
    fn emit(&self, event: RegistryEvent) {
        // No receiver is not an error.
        let _ = self.events.send(event);
    }
}

/// A [`NodeRegistry`] in a PostgreSQL database, for several gateway replicas sharing one registry.
///
/// - Every write is one transaction and returns only after `COMMIT`. Writers — in this process
///   and in every other process on the database — are serialized by a transaction-scoped
///   advisory lock, so endpoint uniqueness holds under concurrent replicas.
/// - `node_num` comes from a stored counter and is never reused, even after deletes.
/// - The schema is versioned by embedded migrations (`migrations_pg/`), applied at connect.
/// - Change feed: every write sends `NOTIFY gonka_nodes` inside its transaction (delivered on
///   commit). Each registry listens and turns other processes' changes into events, reading just
///   the changed rows; its own changes are emitted directly after commit. After a lost listening
///   connection it reconnects and re-lists, so events may repeat: consumers apply them
///   idempotently.
/// - `list` answers from memory when the database's registry version (bumped by a trigger in every
///   transaction that changes `nodes`, whoever writes) still matches the last list read, at the
///   cost of reading that one row; otherwise it reads every row. A list therefore shows every
///   write committed before it began, from any process.
/// - When the database is down calls fail with [`Error::Unavailable`] after at most
///   [`DEFAULT_ACQUIRE_TIMEOUT`]; nothing is reported stored that was not committed.
#[derive(Debug)]
pub struct PostgresRegistry {
    shared: Arc<Shared>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresRegistry {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PostgresRegistry {
    /// Connects to `url` (`postgres://user:password@host:port/db` or `postgresql://...`), applies
    /// the embedded migrations and starts following the change feed.
    ///
    /// # Errors
    /// `OpenError::InvalidUrl` for a malformed URL, `Database` when the server cannot be reached
    /// or refuses the login, `Migrate` when the schema cannot be brought up to date (e.g. the
    /// database was written by a newer release). A query parameter sqlx does not know is refused
    /// (`InvalidUrl`). No message carries the URL's password ([`crate::redact_url`]).
    pub async fn connect(url: &str) -> std::result::Result<Self, OpenError> {
        Self::connect_url(url)
            .await
            .map_err(|e| crate::open::without_secrets(url, e))
    }

    async fn connect_url(url: &str) -> std::result::Result<Self, OpenError> {
        let pool = open_pool(url, MAX_CONNECTIONS).await?;
        let rekeyed = rows::rekey_hosts(&pool)
            .await
            .map_err(OpenError::Registry)?;
        if rekeyed > 0 {
            tracing::info!(rows = rekeyed, "host keys brought to the canonical address");
        }
        let origin: String = sqlx::query_scalar("SELECT gen_random_uuid()::text")
            .fetch_one(&pool)
            .await
            .map_err(OpenError::Database)?;
        // Listen before the first read, so no change falls between them.
        let feed = listener::listen(&pool).await.map_err(OpenError::Database)?;
        let list_cache = cache::ListCache::default();
        let known = {
            let mut conn = pool.acquire().await.map_err(OpenError::Database)?;
            let (version, records) = rows::load_versioned(&mut conn)
                .await
                .map_err(OpenError::Registry)?;
            let known = listener::known_of(&records);
            list_cache.store(version, Arc::new(records));
            known
        };
        let (events, _) = broadcast::channel(WATCH_CAPACITY);
        let shared = Arc::new(Shared {
            pool,
            write: Mutex::new(()),
            events,
            origin,
            cache: list_cache,
        });
        let listener = tokio::spawn(listener::follow(Arc::clone(&shared), feed, known));
        tracing::info!(url = %redact(url), "PostgreSQL registry ready");
        Ok(Self { shared, listener })
    }

    /// Stops the change feed and closes every connection; later calls answer `Unavailable`.
    pub async fn close(&self) {
        self.listener.abort();
        self.shared.cache.clear();
        self.shared.pool.close().await;
    }

    /// Runs one write transaction: takes the writers' lock, calls `body`, sends `payloads` as
    /// notifications and commits. Returns `body`'s value only after the commit.
    async fn write<T, F>(&self, body: F) -> Result<T>
    where
        F: for<'c> FnOnce(
                &'c mut PgConnection,
            ) -> futures::future::BoxFuture<'c, Result<(T, Vec<String>)>>
            + Send,
        T: Send,
    {
        let outcome = tokio::time::timeout(WRITE_TIMEOUT, self.transaction(body))
            .await
            .unwrap_or_else(|_| {
                Err(Error::Unavailable(
                    format!("PostgreSQL did not answer within {WRITE_TIMEOUT:?}").into(),
                ))
            });
        // Say so in the answer: a 503 on a write means the change was not stored. (A commit
        // whose reply is lost may still have been applied; it is then simply not confirmed.)
        outcome.map_err(|e| match e {
            Error::Unavailable(source) => {
                Error::Unavailable(format!("{source}; the change was not stored").into())
            }
            other => other,
        })
    }

    async fn transaction<T, F>(&self, body: F) -> Result<T>
    where
        F: for<'c> FnOnce(
                &'c mut PgConnection,
            ) -> futures::future::BoxFuture<'c, Result<(T, Vec<String>)>>
            + Send,
        T: Send,
    {
        let mut tx = self.shared.pool.begin().await.map_err(unavailable)?;
        rows::lock_writers(&mut tx).await?;
        let (value, payloads) = body(&mut tx).await?;
        if !payloads.is_empty() {
            sqlx::query(&format!(
                "SELECT pg_notify('{}', p) FROM UNNEST($1::text[]) AS p",
                notice::CHANNEL
            ))
            .bind(payloads)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(value)
    }

    async fn upsert_many(&self, configs: Vec<NodeConfig>) -> Result<Vec<BatchItemResult>> {
        let _gate = self.shared.write.lock().await;
        let origin = self.shared.origin.clone();
        let results = self
            .write(move |conn| {
                Box::pin(async move {
                    let stored = rows::load_affected(conn, &configs).await?;
                    let mut plan = Plan::new(stored, rows::read_counter(conn).await?);
                    let results: Vec<BatchItemResult> =
                        configs.into_iter().map(|c| plan.apply(c)).collect();
                    let changed = plan.changed(&results);
                    rows::write_records(conn, &changed).await?;
                    rows::write_counter(conn, plan.last_num()).await?;
                    let payloads = notice::upserted_payloads(&origin, changed.iter().copied());
                    Ok((results, payloads))
                })
            })
            .await?;
        for record in results.iter().flatten() {
            self.shared.emit(RegistryEvent::Upserted(record.clone()));
        }
        Ok(results)
    }

    async fn modify_state(
        &self,
        id: &str,
        f: impl FnOnce(&mut gonka_core::NodeState) + Send + 'static,
    ) -> Result<NodeRecord> {
        let _gate = self.shared.write.lock().await;
        let origin = self.shared.origin.clone();
        let id = id.to_owned();
        let record = self
            .write(move |conn| {
                Box::pin(async move {
                    let mut record = rows::fetch_one(conn, &id, true).await?;
                    f(&mut record.state);
                    rows::write_state(conn, &record).await?;
                    let payloads = notice::upserted_payloads(&origin, [&record]);
                    Ok((record, payloads))
                })
            })
            .await?;
        self.shared.emit(RegistryEvent::Upserted(record.clone()));
        Ok(record)
    }
}

#[async_trait]
impl NodeRegistry for PostgresRegistry {
    async fn upsert(&self, config: NodeConfig) -> Result<NodeRecord> {
        let mut results = self.upsert_many(vec![config]).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(Error::Unavailable("upsert produced no result".into())))
    }

    async fn upsert_batch(&self, configs: Vec<NodeConfig>) -> Result<Vec<BatchItemResult>> {
        if configs.is_empty() {
            return Ok(Vec::new());
        }
        self.upsert_many(configs).await
    }

    async fn get(&self, id: &str) -> Result<NodeRecord> {
        let mut conn = self.shared.pool.acquire().await.map_err(unavailable)?;
        rows::fetch_one(&mut conn, id, false).await
    }

    async fn list(&self) -> Result<Vec<NodeRecord>> {
        let mut conn = self.shared.pool.acquire().await.map_err(unavailable)?;
        let version = rows::read_version(&mut conn).await?;
        if let Some(records) = self.shared.cache.get(version) {
            return Ok(records.as_ref().clone());
        }
        let (version, records) = rows::load_versioned(&mut conn).await?;
        drop(conn);
        let records = Arc::new(records);
        self.shared.cache.store(version, Arc::clone(&records));
        Ok(Arc::unwrap_or_clone(records))
    }

    async fn set_enabled(&self, id: &str, enabled: bool, epoch: u64) -> Result<NodeRecord> {
        self.modify_state(id, move |s| {
            s.admin_state.enabled = enabled;
            s.admin_state.epoch = epoch;
        })
        .await
    }

    async fn update_status(&self, id: &str, update: StatusUpdate) -> Result<NodeRecord> {
        self.modify_state(id, move |s| apply_status_update(s, &update))
            .await
    }

    async fn delete(&self, id: &str) -> Result<NodeRecord> {
        let _gate = self.shared.write.lock().await;
        let origin = self.shared.origin.clone();
        let id = id.to_owned();
        let record = self
            .write(move |conn| {
                Box::pin(async move {
                    let row = sqlx::query(&format!(
                        "DELETE FROM nodes WHERE id = $1 RETURNING {}",
                        rows::RECORD_COLUMNS
                    ))
                    .bind(id.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(unavailable)?;
                    let Some(row) = row else {
                        return Err(Error::NotFound { id });
                    };
                    // Decode before commit: a corrupt row is reported and the delete rolled back.
                    let record = rows::decode(&row)?;
                    let payload = notice::deleted_payload(&origin, &record);
                    Ok((record, vec![payload]))
                })
            })
            .await?;
        self.shared.emit(RegistryEvent::Deleted(record.clone()));
        Ok(record)
    }

    fn watch(&self) -> broadcast::Receiver<RegistryEvent> {
        self.shared.events.subscribe()
    }

    async fn marker(&self, name: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = $1")
            .bind(format!("marker:{name}"))
            .fetch_optional(&self.shared.pool)
            .await
            .map_err(unavailable)?;
        Ok(found.is_some())
    }

    async fn set_marker(&self, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(format!("marker:{name}"))
        .execute(&self.shared.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn malformed_url_is_an_invalid_url_error() {
        let e = PostgresRegistry::connect("postgres://u:pw@host:notaport/db")
            .await
            .unwrap_err();
        assert!(matches!(e, OpenError::InvalidUrl { .. }), "{e}");
        assert!(!e.to_string().contains("pw"), "password leaked: {e}");
    }
}
