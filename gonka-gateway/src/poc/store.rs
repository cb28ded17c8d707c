//! [`ArtifactStore`]: durable storage of received PoC artifacts in SQLite (WAL,
//! `synchronous=FULL`), keyed by `(epoch, node, nonce)`. `INSERT OR IGNORE` makes a retried
//! callback harmless: a nonce is stored, and counted, once. Rows keep their arrival order
//! (`seq`), which is the leaf order of the MMR commitment.

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use gonka_core::poc::Nonce;

/// A storage failure, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("PoC artifact store: {what}: {source}")]
pub struct StoreError {
    what: &'static str,
    #[source]
    source: sqlx::Error,
}

fn err(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError { what, source }
}

/// One stored artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredArtifact {
    /// The producing ML node's `node_num`.
    pub node_num: u32,
    /// The nonce.
    pub nonce: Nonce,
    /// The decoded vector bytes (normally 24).
    pub vector: Vec<u8>,
}

/// Durable artifact storage (see the module docs). Cheap to clone.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    pool: SqlitePool,
}

impl ArtifactStore {
    /// Opens (creating) the database at `url` (`sqlite://path/poc.db`, or `sqlite::memory:`).
    ///
    /// # Errors
    /// A bad URL, an unreachable file, or a failed schema creation.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(err("invalid database URL"))?;
        Self::open_with(options).await
    }

    /// Opens (creating) the database file at `path`.
    ///
    /// # Errors
    /// As [`ArtifactStore::open`].
    pub async fn open_path(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(SqliteConnectOptions::new().filename(path.as_ref())).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(err("cannot open the database"))?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS poc_artifacts (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                epoch INTEGER NOT NULL,
                node_num INTEGER NOT NULL,
                nonce INTEGER NOT NULL,
                vector BLOB NOT NULL,
                UNIQUE (epoch, node_num, nonce)
            )",
        )
        .execute(&pool)
        .await
        .map_err(err("cannot create the schema"))?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS poc_rounds (epoch INTEGER PRIMARY KEY, round TEXT NOT NULL)",
        )
        .execute(&pool)
        .await
        .map_err(err("cannot create the schema"))?;
        Ok(Self { pool })
    }

    /// Stores `artifacts` of `node_num` for `epoch` in one transaction; nonces already stored
    /// are skipped. Returns how many were new. Durable when it returns.
    ///
    /// # Errors
    /// A database failure (nothing is stored then).
    pub async fn insert(
        &self,
        epoch: u64,
        node_num: u32,
        artifacts: &[(Nonce, Vec<u8>)],
    ) -> Result<u64, StoreError> {
        let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(err("begin"))?;
        let mut added = 0;
        for (nonce, vector) in artifacts {
            let r = sqlx::query(
                "INSERT OR IGNORE INTO poc_artifacts (epoch, node_num, nonce, vector) VALUES (?, ?, ?, ?)",
            )
            .bind(epoch)
            .bind(i64::from(node_num))
            .bind(i64::from(*nonce))
            .bind(vector.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(err("insert"))?;
            added += r.rows_affected();
        }
        tx.commit().await.map_err(err("commit"))?;
        Ok(added)
    }

    /// Every artifact of `epoch` in arrival order.
    ///
    /// # Errors
    /// A database failure.
    pub async fn artifacts(&self, epoch: u64) -> Result<Vec<StoredArtifact>, StoreError> {
        let rows = sqlx::query(
            "SELECT node_num, nonce, vector FROM poc_artifacts WHERE epoch = ? ORDER BY seq",
        )
        .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(err("select"))?;
        rows.iter()
            .map(|r| {
                Ok(StoredArtifact {
                    node_num: u32::try_from(r.try_get::<i64, _>(0).map_err(err("decode"))?)
                        .unwrap_or(u32::MAX),
                    nonce: u32::try_from(r.try_get::<i64, _>(1).map_err(err("decode"))?)
                        .unwrap_or(u32::MAX),
                    vector: r.try_get(2).map_err(err("decode"))?,
                })
            })
            .collect()
    }

    /// `(node_num, count)` of `epoch`'s artifacts, by node number.
    ///
    /// # Errors
    /// A database failure.
    pub async fn counts(&self, epoch: u64) -> Result<Vec<(u32, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT node_num, COUNT(*) FROM poc_artifacts WHERE epoch = ? GROUP BY node_num ORDER BY node_num",
        )
        .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(err("count"))?;
        rows.iter()
            .map(|r| {
                let n: i64 = r.try_get(0).map_err(err("decode"))?;
                let c: i64 = r.try_get(1).map_err(err("decode"))?;
                Ok((
                    u32::try_from(n).unwrap_or(u32::MAX),
                    u64::try_from(c).unwrap_or(0),
                ))
            })
            .collect()
    }

    /// Stores the round of `epoch` (JSON), replacing an earlier one. Durable when it returns.
    ///
    /// # Errors
    /// A database failure.
    pub async fn save_round(&self, epoch: u64, round_json: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT OR REPLACE INTO poc_rounds (epoch, round) VALUES (?, ?)")
            .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
            .bind(round_json)
            .execute(&self.pool)
            .await
            .map_err(err("save round"))?;
        Ok(())
    }

    /// The round of `epoch` saved by [`ArtifactStore::save_round`].
    ///
    /// # Errors
    /// A database failure.
    pub async fn load_round(&self, epoch: u64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT round FROM poc_rounds WHERE epoch = ?")
            .bind(i64::try_from(epoch).unwrap_or(i64::MAX))
            .fetch_optional(&self.pool)
            .await
            .map_err(err("load round"))?;
        row.map(|r| r.try_get(0).map_err(err("decode"))).transpose()
    }

    /// Deletes the artifacts of epochs before `epoch` (retention).
    ///
    /// # Errors
    /// A database failure.
    pub async fn prune_before(&self, epoch: u64) -> Result<u64, StoreError> {
        let before = i64::try_from(epoch).unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM poc_rounds WHERE epoch < ?")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(err("prune"))?;
        let r = sqlx::query("DELETE FROM poc_artifacts WHERE epoch < ?")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(err("prune"))?;
        Ok(r.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn repeated_nonces_are_stored_once_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("poc.db");
        let store = ArtifactStore::open_path(&path).await.unwrap();
        let a = vec![(1, vec![1u8; 24]), (4, vec![4u8; 24])];
        assert_eq!(store.insert(7, 1, &a).await.unwrap(), 2);
        assert_eq!(store.insert(7, 1, &a).await.unwrap(), 0);
        assert_eq!(store.insert(7, 2, &[(2, vec![2u8; 24])]).await.unwrap(), 1);
        assert_eq!(store.insert(8, 1, &a).await.unwrap(), 2);
        drop(store);
        let store = ArtifactStore::open_path(&path).await.unwrap();
        let got = store.artifacts(7).await.unwrap();
        assert_eq!(
            got.iter()
                .map(|a| (a.node_num, a.nonce))
                .collect::<Vec<_>>(),
            vec![(1, 1), (1, 4), (2, 2)]
        );
        assert_eq!(store.counts(7).await.unwrap(), vec![(1, 2), (2, 1)]);
        store.save_round(7, "{\"a\":1}").await.unwrap();
        store.save_round(8, "{\"b\":2}").await.unwrap();
        drop(store);
        let store = ArtifactStore::open_path(&path).await.unwrap();
        assert_eq!(
            store.load_round(7).await.unwrap().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(store.load_round(9).await.unwrap(), None);
        assert_eq!(store.prune_before(8).await.unwrap(), 3);
        assert!(store.artifacts(7).await.unwrap().is_empty());
        assert_eq!(store.load_round(7).await.unwrap(), None);
        assert!(store.load_round(8).await.unwrap().is_some());
    }
}
