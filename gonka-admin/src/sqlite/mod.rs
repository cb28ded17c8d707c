//! [`SqliteRegistry`]: the durable default registry (WAL, `synchronous=FULL`).
//!
//! Files: `rows.rs` (SQL for rows, the counter and the registry version), `plan.rs` (upsert
//! planning, shared with the PostgreSQL backend), and the PostgreSQL backend's `cache.rs` (the
//! in-memory list revalidated by the registry version, shared likewise).

// The PostgreSQL registry's list cache, shared word for word and compiled here as well.
#[allow(clippy::duplicate_mod)]
#[path = "../postgres/cache.rs"]
mod cache;
pub(crate) mod deploy;
mod plan;
mod rows;
pub(crate) mod traces;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gonka_core::{
    apply_status_update, BatchItemResult, Error, NodeConfig, NodeRecord, NodeRegistry,
    RegistryEvent, Result, StatusUpdate, WATCH_CAPACITY,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{broadcast, Mutex};

use crate::open::OpenError;
use plan::Plan;
use rows::{decode, unavailable, RECORD_COLUMNS};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Configs per query when reading the rows a batch affects (two parameters each).
const AFFECTED_PER_QUERY: usize = 500;

/// A [`NodeRegistry`] in an SQLite database file.
///
/// - Opening applies the schema migrations in one write transaction: several processes may
///   open one new file at the same time.
/// - Every write runs in one `BEGIN IMMEDIATE` transaction and returns only after `COMMIT`; with
///   WAL and `synchronous=FULL` a committed change survives a crash or power loss.
/// - Endpoint uniqueness is checked inside the same transaction as the write, so it holds under
///   concurrent writers (also from other processes on the same file).
/// - `node_num` comes from a stored counter and is never reused, even after deletes.
/// - A batch is one transaction with multi-row statements: 10,000 nodes take one fsync.
/// - The change feed carries changes made through this value, sent after commit.
/// - `list` answers from memory when the file's registry version (bumped by triggers in every
///   transaction that changes `nodes`, whoever writes) still matches the last list read, at the
///   cost of reading that one row; otherwise it reads every row. A list therefore shows every
///   write committed before it began, also by other processes on the file.
#[derive(Debug)]
pub struct SqliteRegistry {
    pool: SqlitePool,
    write: Mutex<()>,
    /// The last full list and the registry version it belongs to.
    cache: cache::ListCache,
    events: broadcast::Sender<RegistryEvent>,
    _temp_dir: Option<TempDirGuard>,
}

/// Keeps the temporary directory of [`SqliteRegistry::in_temp_dir`] until the registry is
/// dropped; without the `temp-db` feature there is none.
#[cfg(feature = "temp-db")]
type TempDirGuard = tempfile::TempDir;
#[cfg(not(feature = "temp-db"))]
type TempDirGuard = std::convert::Infallible;

impl SqliteRegistry {
    /// Opens (creating if missing) the database at `url`, e.g. `sqlite://gonka.db`,
    /// `sqlite:///var/lib/gonka/nodes.db` or `sqlite::memory:`, and applies the embedded
    /// migrations.
    ///
    /// # Errors
    /// `OpenError::InvalidUrl` for a malformed URL, `Database`/`Migrate` when the file cannot be
    /// opened or migrated.
    pub async fn connect(url: &str) -> std::result::Result<Self, OpenError> {
        Self::connect_url(url)
            .await
            .map_err(|e| crate::open::without_secrets(url, e))
    }

    async fn connect_url(url: &str) -> std::result::Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url).map_err(|e| OpenError::InvalidUrl {
            url: crate::redact_url(url),
            reason: crate::redact::scrub(url, &e.to_string()),
        })?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::open(options, in_memory, None).await
    }

    /// Opens (creating if missing) the database file at `path`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn open_path(path: impl AsRef<Path>) -> std::result::Result<Self, OpenError> {
        let options = SqliteConnectOptions::new().filename(path.as_ref());
        Self::open(options, false, None).await
    }

    /// A registry in a fresh database file inside a temporary directory that is removed when the
    /// registry is dropped. For tests, benches and demos.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), or `Io` when the directory cannot be created.
    #[cfg(feature = "temp-db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "temp-db")))]
    pub async fn in_temp_dir() -> std::result::Result<Self, OpenError> {
        let dir = tempfile::tempdir().map_err(OpenError::Io)?;
        let options = SqliteConnectOptions::new().filename(dir.path().join("gonka.db"));
        Self::open(options, false, Some(dir)).await
    }

    async fn open(
        options: SqliteConnectOptions,
        in_memory: bool,
        temp_dir: Option<TempDirGuard>,
    ) -> std::result::Result<Self, OpenError> {
        let pool = open_pool(options, in_memory, 4).await?;
        let rekeyed = rows::rekey_hosts(&pool)
            .await
            .map_err(OpenError::Registry)?;
        if rekeyed > 0 {
            tracing::info!(rows = rekeyed, "host keys brought to the canonical address");
        }
        let (events, _) = broadcast::channel(WATCH_CAPACITY);
        Ok(Self {
            pool,
            write: Mutex::new(()),
            cache: cache::ListCache::default(),
            events,
            _temp_dir: temp_dir,
        })
    }

    /// Closes every connection; later calls answer `Unavailable`.
    pub async fn close(&self) {
        self.cache.clear();
        self.pool.close().await;
    }

    fn emit(&self, event: RegistryEvent) {
        // No receiver is not an error.
        let _ = self.events.send(event);
    }

    async fn upsert_many(&self, configs: Vec<NodeConfig>) -> Result<Vec<BatchItemResult>> {
        let _writer = self.write.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let stored = load_affected(&mut tx, &configs).await?;
        let mut plan = Plan::new(stored, rows::read_counter(&mut tx).await?);
        let results: Vec<BatchItemResult> = configs.into_iter().map(|c| plan.apply(c)).collect();
        rows::write_records(&mut tx, &plan.changed(&results)).await?;
        rows::write_counter(&mut tx, plan.last_num()).await?;
        tx.commit().await.map_err(unavailable)?;
        // No subscriber, no copies (a large batch would otherwise be cloned once more).
        if self.events.receiver_count() > 0 {
            for record in results.iter().flatten() {
                self.emit(RegistryEvent::Upserted(record.clone()));
            }
        }
        Ok(results)
    }
}

/// A pool on the database of `options` with the embedded migrations applied (the registry's and
/// the request traces' tables): WAL, `synchronous=FULL`, the busy timeout, foreign keys. An
/// in-memory database is kept in exactly one connection forever; a file gets up to
/// `max_connections`.
/// [`open_pool`] for a database URL as [`SqliteRegistry::connect`] takes it (`sqlite::memory:`
/// or `mode=memory`: a private in-memory database); errors never carry the URL's secrets. The
/// deployment and trace stores open their pools through it.
pub(crate) async fn open_url_pool(
    url: &str,
    max_connections: u32,
) -> std::result::Result<SqlitePool, OpenError> {
    let options = SqliteConnectOptions::from_str(url).map_err(|e| OpenError::InvalidUrl {
        url: crate::redact_url(url),
        reason: crate::redact::scrub(url, &e.to_string()),
    })?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    open_pool(options, in_memory, max_connections)
        .await
        .map_err(|e| crate::open::without_secrets(url, e))
}

pub(crate) async fn open_pool(
    options: SqliteConnectOptions,
    in_memory: bool,
    max_connections: u32,
) -> std::result::Result<SqlitePool, OpenError> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    // An in-memory database lives in one connection: keep exactly that one forever.
    let pool = if in_memory {
        SqlitePoolOptions::new()
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(max_connections)
    };
    // Another process creating the same file at this moment can make the first connection's
    // set-up (switching a new file to WAL) fail with SQLITE_BUSY at once, without waiting for
    // the busy timeout: retry, within that timeout, until the file is ready.
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(10);
    loop {
        let opened = match pool.clone().connect_with(options.clone()).await {
            Ok(pool) => migrate(&pool).await.map(|()| pool),
            Err(e) => Err(OpenError::Database(e)),
        };
        match opened {
            Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "database busy while opening; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

/// How long a statement waits for another connection's lock (SQLite busy timeout), and how long
/// opening retries a database another process is creating.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `e` is SQLite's "database is locked/busy" (`SQLITE_BUSY`, `SQLITE_LOCKED` and their
/// extended codes): another connection holds the lock, trying again later can succeed.
fn is_busy(e: &OpenError) -> bool {
    let sql = match e {
        OpenError::Database(e) => e,
        OpenError::Migrate(
            sqlx::migrate::MigrateError::Execute(e)
            | sqlx::migrate::MigrateError::ExecuteMigration(e, _),
        ) => e,
        _ => return false,
    };
    let code = match sql {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
        _ => None,
    };
    matches!(code.map(|c| c & 0xff), Some(5 | 6))
}

/// Applies the embedded migrations inside one `BEGIN IMMEDIATE` transaction (each migration is
/// a savepoint in it), so a second process opening the same new file waits, within the busy
/// timeout, for the first one's schema instead of racing it to create the tables.
async fn migrate(pool: &SqlitePool) -> std::result::Result<(), OpenError> {
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(OpenError::Database)?;
    MIGRATOR.run(&mut tx).await.map_err(OpenError::Migrate)?;
    tx.commit().await.map_err(OpenError::Database)
}

/// The stored nodes that share a host with, or have the id of, one of `configs`: only those,
/// whatever the size of the registry (a large batch must not load every stored node), read with
/// one query per [`AFFECTED_PER_QUERY`] configs.
async fn load_affected(
    conn: &mut SqliteConnection,
    configs: &[NodeConfig],
) -> Result<Vec<NodeRecord>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for chunk in configs.chunks(AFFECTED_PER_QUERY) {
        let mut qb: sqlx::QueryBuilder<'_, sqlx::Sqlite> = sqlx::QueryBuilder::new(format!(
            "SELECT {RECORD_COLUMNS} FROM nodes WHERE host_key IN ("
        ));
        let mut hosts = qb.separated(", ");
        for c in chunk {
            hosts.push_bind(gonka_core::normalize_host(&c.host));
        }
        qb.push(") OR id IN (");
        let mut ids = qb.separated(", ");
        for c in chunk {
            ids.push_bind(c.id.as_str());
        }
        qb.push(")");
        let rows = qb
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        for row in &rows {
            let record = decode(row)?;
            if seen.insert(record.node.id.clone()) {
                out.push(record);
            }
        }
    }
    Ok(out)
}

async fn fetch_one(conn: &mut SqliteConnection, id: &str) -> Result<NodeRecord> {
    let row = sqlx::query(&format!("SELECT {RECORD_COLUMNS} FROM nodes WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)?;
    match row {
        Some(row) => decode(&row),
        None => Err(Error::NotFound { id: id.to_owned() }),
    }
}

#[async_trait]
impl NodeRegistry for SqliteRegistry {
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
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        fetch_one(&mut conn, id).await
    }

    async fn list(&self) -> Result<Vec<NodeRecord>> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        let version = rows::read_version(&mut conn).await?;
        if let Some(records) = self.cache.get(version) {
            return Ok(records.as_ref().clone());
        }
        let (version, records) = rows::load_versioned(&mut conn).await?;
        drop(conn);
        let records = Arc::new(records);
        self.cache.store(version, Arc::clone(&records));
        Ok(Arc::unwrap_or_clone(records))
    }

    async fn set_enabled(&self, id: &str, enabled: bool, epoch: u64) -> Result<NodeRecord> {
        self.modify_state(id, |s| {
            s.admin_state.enabled = enabled;
            s.admin_state.epoch = epoch;
        })
        .await
    }

    async fn update_status(&self, id: &str, update: StatusUpdate) -> Result<NodeRecord> {
        self.modify_state(id, |s| apply_status_update(s, &update))
            .await
    }

    async fn delete(&self, id: &str) -> Result<NodeRecord> {
        let _writer = self.write.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let row = sqlx::query(&format!(
            "DELETE FROM nodes WHERE id = ? RETURNING {RECORD_COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else {
            return Err(Error::NotFound { id: id.to_owned() });
        };
        // Decode before commit: a corrupt row is reported and the delete rolled back.
        let record = decode(&row)?;
        tx.commit().await.map_err(unavailable)?;
        self.emit(RegistryEvent::Deleted(record.clone()));
        Ok(record)
    }

    fn watch(&self) -> broadcast::Receiver<RegistryEvent> {
        self.events.subscribe()
    }

    async fn marker(&self, name: &str) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = ?")
            .bind(marker_key(name))
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(found.is_some())
    }

    async fn set_marker(&self, name: &str) -> Result<()> {
        let _writer = self.write.lock().await;
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(marker_key(name))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

/// The `counters` row of marker `name` (markers share the table with the counters, under a
/// prefix no counter uses).
fn marker_key(name: &str) -> String {
    format!("marker:{name}")
}

impl SqliteRegistry {
    async fn modify_state(
        &self,
        id: &str,
        f: impl FnOnce(&mut gonka_core::NodeState) + Send,
    ) -> Result<NodeRecord> {
        let _writer = self.write.lock().await;
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let mut record = fetch_one(&mut tx, id).await?;
        f(&mut record.state);
        rows::write_state(&mut tx, &record).await?;
        tx.commit().await.map_err(unavailable)?;
        self.emit(RegistryEvent::Upserted(record.clone()));
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_url_keeps_data_across_calls() {
        let r = SqliteRegistry::connect("sqlite::memory:").await.unwrap();
        r.upsert(NodeConfig::new("a", "m")).await.unwrap();
        assert_eq!(r.list().await.unwrap().len(), 1);
        assert_eq!(r.get("a").await.unwrap().node.node_num, 1);
    }

    #[tokio::test]
    async fn closed_pool_answers_unavailable() {
        let r = SqliteRegistry::in_temp_dir().await.unwrap();
        r.close().await;
        assert!(matches!(r.list().await, Err(Error::Unavailable(_))));
        assert!(matches!(
            r.upsert(NodeConfig::new("a", "m")).await,
            Err(Error::Unavailable(_))
        ));
    }
}
