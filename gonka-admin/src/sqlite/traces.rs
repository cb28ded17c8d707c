//! [`SqliteTraceStore`]: request traces in the registry's SQLite database file.

use async_trait::async_trait;
use gonka_core::traces::{
    decode_breakdown, encode_breakdown, PerformanceRow, Retention, Trace, TraceApi, TraceQuery,
    TraceStatus, TraceStore, TrendSample, UsageRow,
};
use gonka_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use crate::open::OpenError;

use super::rows::unavailable;

/// The columns every `SELECT` of a whole trace reads, in [`decode`]'s order.
const TRACE_COLUMNS: &str = "request_id, timestamp_ms, api, endpoint, model, node_id, stream, \
     score, scores_breakdown, candidates, queue_wait_ms, ttft_ms, latency_ms, prompt_tokens, \
     completion_tokens, status, http_status, retries, api_key, app_tag";

/// Most traces per multi-row `INSERT` (20 parameters each); a batch is cut into chunks of this
/// and smaller powers of two, so the same few statements are prepared once and reused.
const ROWS_PER_STATEMENT: usize = 128;

/// A [`TraceStore`] in an SQLite database file: the table `request_traces`, created by the same
/// embedded migrations as the registry's tables (so the registry's file holds both).
///
/// - A batch is one transaction (one fsync, WAL with `synchronous=FULL`).
/// - Queries use the time index; aggregates are computed by SQLite.
/// - Pruning deletes by time, then keeps the newest `max_rows` by insertion order.
#[derive(Debug, Clone)]
pub struct SqliteTraceStore {
    pool: SqlitePool,
}

impl SqliteTraceStore {
    /// Opens (creating if missing) the database at `url` (as [`crate::SqliteRegistry::connect`]
    /// takes it) and applies the embedded migrations. `sqlite::memory:` opens a private
    /// in-memory database.
    ///
    /// # Errors
    /// As [`crate::SqliteRegistry::connect`].
    pub async fn connect(url: &str) -> std::result::Result<Self, OpenError> {
        Ok(Self {
            pool: super::open_url_pool(url, 2).await?,
        })
    }

    /// Opens (creating if missing) the database file at `path`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn open_path(
        path: impl AsRef<std::path::Path>,
    ) -> std::result::Result<Self, OpenError> {
        let options = SqliteConnectOptions::new().filename(path.as_ref());
        Ok(Self {
            pool: super::open_pool(options, false, 2).await?,
        })
    }

    /// Closes every connection; later calls answer `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or_default()
}

fn decode(row: &SqliteRow) -> Result<Trace> {
    let get_str = |i: usize| -> Result<String> { row.try_get::<String, _>(i).map_err(unavailable) };
    let api: String = get_str(2)?;
    let status: String = get_str(15)?;
    let corrupt = |what: &str, value: &str| {
        Error::Unavailable(format!("corrupt request trace: {what} {value:?}").into())
    };
    let breakdown: Option<String> = row.try_get(8).map_err(unavailable)?;
    Ok(Trace {
        request_id: get_str(0)?,
        timestamp_ms: row.try_get(1).map_err(unavailable)?,
        api: TraceApi::parse(&api).ok_or_else(|| corrupt("api", &api))?,
        endpoint: get_str(3)?,
        model: get_str(4)?,
        node_id: row.try_get(5).map_err(unavailable)?,
        stream: row.try_get(6).map_err(unavailable)?,
        score: row.try_get(7).map_err(unavailable)?,
        scores_breakdown: decode_breakdown(breakdown.as_deref())?,
        candidates: u32::try_from(row.try_get::<i64, _>(9).map_err(unavailable)?)
            .unwrap_or_default(),
        queue_wait_ms: row.try_get(10).map_err(unavailable)?,
        ttft_ms: row.try_get(11).map_err(unavailable)?,
        latency_ms: row.try_get(12).map_err(unavailable)?,
        prompt_tokens: row
            .try_get::<Option<i64>, _>(13)
            .map_err(unavailable)?
            .map(to_u64),
        completion_tokens: row
            .try_get::<Option<i64>, _>(14)
            .map_err(unavailable)?
            .map(to_u64),
        status: TraceStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        http_status: u16::try_from(row.try_get::<i64, _>(16).map_err(unavailable)?)
            .unwrap_or_default(),
        retries: u32::try_from(row.try_get::<i64, _>(17).map_err(unavailable)?).unwrap_or_default(),
        api_key: row.try_get(18).map_err(unavailable)?,
        app_tag: row.try_get(19).map_err(unavailable)?,
    })
}

#[async_trait]
impl TraceStore for SqliteTraceStore {
    async fn append(&self, traces: Vec<Trace>) -> Result<()> {
        if traces.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        // The rows' strings are moved into the statement's arguments: sqlx copies borrowed
        // text arguments to hand them to its connection thread.
        let sizes = crate::chunks::power_of_two_sizes(traces.len(), ROWS_PER_STATEMENT);
        let mut rows = traces.into_iter();
        for size in sizes {
            let mut qb: QueryBuilder<'_, Sqlite> =
                QueryBuilder::new(format!("INSERT INTO request_traces ({TRACE_COLUMNS}) "));
            qb.push_values(rows.by_ref().take(size), |mut b, t| {
                let breakdown = encode_breakdown(t.scores_breakdown.as_ref());
                b.push_bind(t.request_id)
                    .push_bind(t.timestamp_ms)
                    .push_bind(t.api.as_str())
                    .push_bind(t.endpoint)
                    .push_bind(t.model)
                    .push_bind(t.node_id)
                    .push_bind(t.stream)
                    .push_bind(t.score)
                    .push_bind(breakdown)
                    .push_bind(i64::from(t.candidates))
                    .push_bind(t.queue_wait_ms)
                    .push_bind(t.ttft_ms)
                    .push_bind(t.latency_ms)
                    .push_bind(t.prompt_tokens.map(to_i64))
                    .push_bind(t.completion_tokens.map(to_i64))
                    .push_bind(t.status.as_str())
                    .push_bind(i64::from(t.http_status))
                    .push_bind(i64::from(t.retries))
                    .push_bind(t.api_key)
                    .push_bind(t.app_tag);
            });
            qb.build().execute(&mut *tx).await.map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn query(&self, query: &TraceQuery) -> Result<Vec<Trace>> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(format!(
            "SELECT {TRACE_COLUMNS} FROM request_traces WHERE 1 = 1"
        ));
        if let Some(m) = &query.model {
            qb.push(" AND model = ").push_bind(m.as_str());
        }
        if let Some(n) = &query.node_id {
            qb.push(" AND node_id = ").push_bind(n.as_str());
        }
        if let Some(s) = query.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(t) = query.since_ms {
            qb.push(" AND timestamp_ms >= ").push_bind(t);
        }
        qb.push(" ORDER BY timestamp_ms DESC, id DESC LIMIT ")
            .push_bind(to_i64(query.limit as u64));
        let rows = qb
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter().map(decode).collect()
    }

    async fn performance(&self, since_ms: i64) -> Result<Vec<PerformanceRow>> {
        let rows = sqlx::query(
            "SELECT node_id, model, \
                 SUM(status = 'completed') AS ok, \
                 SUM(status = 'failed') AS failed, \
                 AVG(CASE WHEN status = 'completed' THEN latency_ms END), \
                 AVG(CASE WHEN status = 'completed' AND latency_ms > 0 \
                     AND completion_tokens IS NOT NULL \
                     THEN completion_tokens * 1000.0 / latency_ms END) \
             FROM request_traces \
             WHERE timestamp_ms >= ? AND node_id IS NOT NULL \
             GROUP BY node_id, model \
             HAVING ok + failed > 0 \
             ORDER BY node_id, model",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(PerformanceRow {
                    node_id: r.try_get(0).map_err(unavailable)?,
                    model: r.try_get(1).map_err(unavailable)?,
                    count: to_u64(r.try_get(2).map_err(unavailable)?),
                    errors: to_u64(r.try_get(3).map_err(unavailable)?),
                    mean_latency_ms: r.try_get(4).map_err(unavailable)?,
                    tokens_per_second: r.try_get(5).map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn usage(&self, since_ms: i64) -> Result<Vec<UsageRow>> {
        let rows = sqlx::query(
            "SELECT api_key, app_tag, COUNT(*) AS requests, \
                 COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), \
                 SUM(status IN ('failed', 'rejected')) \
             FROM request_traces WHERE timestamp_ms >= ? \
             GROUP BY api_key, app_tag \
             ORDER BY requests DESC, api_key, app_tag",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    api_key: r.try_get(0).map_err(unavailable)?,
                    app_tag: r.try_get(1).map_err(unavailable)?,
                    requests: to_u64(r.try_get(2).map_err(unavailable)?),
                    prompt_tokens: to_u64(r.try_get(3).map_err(unavailable)?),
                    completion_tokens: to_u64(r.try_get(4).map_err(unavailable)?),
                    errors: to_u64(r.try_get(5).map_err(unavailable)?),
                })
            })
            .collect()
    }

    async fn trend_samples(&self, since_ms: i64, max_rows: usize) -> Result<Vec<TrendSample>> {
        let rows = sqlx::query(
            "SELECT timestamp_ms, status, ttft_ms, latency_ms, completion_tokens \
             FROM request_traces WHERE timestamp_ms >= ? \
             ORDER BY timestamp_ms DESC, id DESC LIMIT ?",
        )
        .bind(since_ms)
        .bind(to_i64(max_rows as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let status: String = r.try_get(1).map_err(unavailable)?;
                Ok(TrendSample {
                    timestamp_ms: r.try_get(0).map_err(unavailable)?,
                    status: TraceStatus::parse(&status).ok_or_else(|| {
                        Error::Unavailable(
                            format!("corrupt request trace: status {status:?}").into(),
                        )
                    })?,
                    ttft_ms: r.try_get(2).map_err(unavailable)?,
                    latency_ms: r.try_get(3).map_err(unavailable)?,
                    completion_tokens: r
                        .try_get::<Option<i64>, _>(4)
                        .map_err(unavailable)?
                        .map(to_u64),
                })
            })
            .collect()
    }

    async fn prune(&self, retention: Retention, now_ms: i64) -> Result<u64> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let old = sqlx::query("DELETE FROM request_traces WHERE timestamp_ms < ?")
            .bind(now_ms.saturating_sub(retention.max_age_ms))
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
        let excess = sqlx::query(
            "DELETE FROM request_traces WHERE id <= \
             (SELECT id FROM request_traces ORDER BY id DESC LIMIT 1 OFFSET ?)",
        )
        .bind(to_i64(retention.max_rows))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?
        .rows_affected();
        tx.commit().await.map_err(unavailable)?;
        Ok(old + excess)
    }

    async fn count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_traces")
            .fetch_one(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(to_u64(n))
    }
}
