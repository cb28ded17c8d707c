//! Reading and writing `nodes` rows.

use gonka_core::{
    normalize_host, stale_host_keys, Error, NodeConfig, NodeRecord, NodeState, Result,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

/// The columns every `SELECT` of a whole record reads, in [`decode`]'s order.
pub const RECORD_COLUMNS: &str = "id, node_num, config, state";

/// Rows per multi-row `INSERT` (7 parameters each, well under SQLite's parameter limit).
const ROWS_PER_STATEMENT: usize = 500;

/// Turns a storage error into [`Error::Unavailable`].
pub fn unavailable(e: sqlx::Error) -> Error {
    Error::unavailable(e)
}

/// Decodes a row selected with [`RECORD_COLUMNS`].
pub fn decode(row: &SqliteRow) -> Result<NodeRecord> {
    decode_at(row, 0)
}

/// Decodes the record whose [`RECORD_COLUMNS`] start at column `first` of `row` (by position,
/// borrowing the text: cheaper than looking columns up by name and copying them).
fn decode_at(row: &SqliteRow, first: usize) -> Result<NodeRecord> {
    let id: &str = row.try_get(first).map_err(unavailable)?;
    let node_num: i64 = row.try_get(first + 1).map_err(unavailable)?;
    let config: &str = row.try_get(first + 2).map_err(unavailable)?;
    let state: &str = row.try_get(first + 3).map_err(unavailable)?;
    let corrupt = |what: &str, e: serde_json::Error| {
        Error::Unavailable(format!("corrupt {what} stored for node {id:?}: {e}").into())
    };
    let mut node: NodeConfig = serde_json::from_str(config).map_err(|e| corrupt("config", e))?;
    let state: NodeState = serde_json::from_str(state).map_err(|e| corrupt("state", e))?;
    node.node_num = u64::try_from(node_num).unwrap_or_default();
    Ok(NodeRecord { node, state })
}

/// The registry version: it moves with every committed change to `nodes` (triggers bump it in
/// the writing transaction, whoever writes), so two reads that return the same value saw the
/// same rows.
pub async fn read_version(conn: &mut SqliteConnection) -> Result<i64> {
    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'registry_version'")
        .fetch_one(conn)
        .await
        .map_err(unavailable)
}

/// Every stored node, in `node_num` order, with the registry version they belong to: one
/// statement, so one read transaction (the version and the rows always agree).
pub async fn load_versioned(conn: &mut SqliteConnection) -> Result<(i64, Vec<NodeRecord>)> {
    let rows = sqlx::query(
        "SELECT v.value, n.id, n.node_num, n.config, n.state \
         FROM counters v LEFT JOIN nodes n ON 1 \
         WHERE v.name = 'registry_version'",
    )
    .fetch_all(conn)
    .await
    .map_err(unavailable)?;
    let Some(first) = rows.first() else {
        return Err(Error::Unavailable(
            "the registry version is missing from the counters table".into(),
        ));
    };
    let version: i64 = first.try_get(0).map_err(unavailable)?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        // An empty registry is one row with NULL node columns.
        let id: Option<&str> = row.try_get(1).map_err(unavailable)?;
        if id.is_some() {
            records.push(decode_at(row, 1)?);
        }
    }
    // Rows come in rowid order, nearly `node_num` order: a cheap sort.
    records.sort_by_key(|r| r.node.node_num);
    Ok((version, records))
}

fn encode(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Unavailable(Box::new(e)))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts or replaces whole records (config, state, node_num) with multi-row statements.
pub async fn write_records(conn: &mut SqliteConnection, records: &[&NodeRecord]) -> Result<()> {
    let mut encoded = Vec::with_capacity(records.len());
    for r in records {
        encoded.push((r, encode(&r.node)?, encode(&r.state)?));
    }
    for chunk in encoded.chunks(ROWS_PER_STATEMENT) {
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(
            "INSERT INTO nodes (id, node_num, host_key, inference_port, poc_port, config, state) ",
        );
        qb.push_values(chunk, |mut b, (r, config, state)| {
            b.push_bind(r.node.id.as_str())
                .push_bind(to_i64(r.node.node_num))
                .push_bind(normalize_host(&r.node.host))
                .push_bind(i64::from(r.node.inference_port))
                .push_bind(i64::from(r.node.poc_port))
                .push_bind(config.as_str())
                .push_bind(state.as_str());
        });
        qb.push(
            " ON CONFLICT(id) DO UPDATE SET node_num = excluded.node_num, \
             host_key = excluded.host_key, inference_port = excluded.inference_port, \
             poc_port = excluded.poc_port, config = excluded.config, state = excluded.state",
        );
        qb.build().execute(&mut *conn).await.map_err(unavailable)?;
    }
    Ok(())
}

/// Replaces the state of one node.
pub async fn write_state(conn: &mut SqliteConnection, record: &NodeRecord) -> Result<()> {
    sqlx::query("UPDATE nodes SET state = ? WHERE id = ?")
        .bind(encode(&record.state)?)
        .bind(record.node.id.as_str())
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// The last `node_num` handed out.
pub async fn read_counter(conn: &mut SqliteConnection) -> Result<u64> {
    let v: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'node_num'")
        .fetch_one(conn)
        .await
        .map_err(unavailable)?;
    Ok(u64::try_from(v).unwrap_or_default())
}

/// Stores the last `node_num` handed out.
pub async fn write_counter(conn: &mut SqliteConnection, value: u64) -> Result<()> {
    sqlx::query("UPDATE counters SET value = ? WHERE name = 'node_num'")
        .bind(to_i64(value))
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Brings every row's `host_key` to the current [`normalize_host`] (an older release keyed
/// `10.0.0.21.` apart from `10.0.0.21`), so endpoint conflicts with old rows are found. Reads the
/// keys once; writes, in one transaction, only the rows whose key changed. Returns how many.
pub async fn rekey_hosts(pool: &sqlx::SqlitePool) -> Result<usize> {
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, host_key, json_extract(config, '$.host') FROM nodes")
            .fetch_all(pool)
            .await
            .map_err(unavailable)?;
    let stale = stale_host_keys(rows);
    if stale.is_empty() {
        return Ok(0);
    }
    let mut tx = pool
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(unavailable)?;
    for (id, key) in &stale {
        sqlx::query("UPDATE nodes SET host_key = ? WHERE id = ?")
            .bind(key)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(stale.len())
}
