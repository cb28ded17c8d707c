//! Reading and writing `nodes` rows (PostgreSQL).

use std::collections::HashSet;

use gonka_core::{
    normalize_host, stale_host_keys, Error, NodeConfig, NodeRecord, NodeState, Result,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

/// The columns every `SELECT` of a whole record reads, in [`decode`]'s order.
pub const RECORD_COLUMNS: &str = "id, node_num, config::text AS config, state::text AS state";

/// Turns a storage error into [`Error::Unavailable`] with a message an operator can act on.
pub fn unavailable(e: sqlx::Error) -> Error {
    Error::Unavailable(format!("PostgreSQL error: {e}").into())
}

/// Decodes a row selected with [`RECORD_COLUMNS`].
pub fn decode(row: &PgRow) -> Result<NodeRecord> {
    decode_at(row, 0)
}

/// Decodes the record whose [`RECORD_COLUMNS`] start at column `first` of `row` (by position:
/// looking columns up by name costs more than the decoding of a small record).
fn decode_at(row: &PgRow, first: usize) -> Result<NodeRecord> {
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

fn encode(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Unavailable(Box::new(e)))
}

/// `n` as a PostgreSQL `BIGINT` (saturating; node numbers never get near the limit).
pub fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Serializes all writers of one database, across processes, until the transaction ends.
pub async fn lock_writers(conn: &mut PgConnection) -> Result<()> {
    /// The advisory lock key of the registry's writers ("gonka" in ASCII).
    const WRITERS_LOCK: i64 = 0x67_6f_6e_6b_61;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITERS_LOCK)
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// The registry version: it moves with every committed statement that changed `nodes` (a
/// trigger bumps it in the writing transaction, whoever writes), so two reads that return the
/// same value saw the same rows.
pub async fn read_version(conn: &mut PgConnection) -> Result<i64> {
    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'registry_version'")
        .fetch_one(conn)
        .await
        .map_err(unavailable)
}

/// Every stored node, in `node_num` order, with the registry version they belong to: one
/// statement, so one snapshot (the version and the rows always agree). Sorted here rather than
/// by the server, whose sort of the joined rows spills to disk at 10,000 nodes.
pub async fn load_versioned(conn: &mut PgConnection) -> Result<(i64, Vec<NodeRecord>)> {
    let rows = sqlx::query(
        "SELECT v.value, n.id, n.node_num, n.config::text, n.state::text \
         FROM counters v LEFT JOIN nodes n ON TRUE \
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
    // Rows come mostly in insertion order, which is nearly `node_num` order: a cheap sort.
    records.sort_by_key(|r| r.node.node_num);
    Ok((version, records))
}

/// The stored nodes that share a normalized host with, or have the id of, one of `configs`:
/// only those, whatever the size of the registry (a large batch must not load every stored
/// node).
pub async fn load_affected(
    conn: &mut PgConnection,
    configs: &[NodeConfig],
) -> Result<Vec<NodeRecord>> {
    let hosts: Vec<String> = configs
        .iter()
        .map(|c| normalize_host(&c.host))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let ids: Vec<&str> = configs.iter().map(|c| c.id.as_str()).collect();
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM nodes WHERE host_key = ANY($1) OR id = ANY($2)"
    ))
    .bind(hosts)
    .bind(ids)
    .fetch_all(conn)
    .await
    .map_err(unavailable)?;
    rows.iter().map(decode).collect()
}

/// The stored nodes among `ids`, in `node_num` order (missing ids are left out).
pub async fn load_ids(conn: &mut PgConnection, ids: &[String]) -> Result<Vec<NodeRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM nodes WHERE id = ANY($1) ORDER BY node_num"
    ))
    .bind(ids)
    .fetch_all(conn)
    .await
    .map_err(unavailable)?;
    rows.iter().map(decode).collect()
}

/// The node with this id; `lock` takes a row lock until the transaction ends.
pub async fn fetch_one(conn: &mut PgConnection, id: &str, lock: bool) -> Result<NodeRecord> {
    let suffix = if lock { " FOR UPDATE" } else { "" };
    let row = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM nodes WHERE id = $1{suffix}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(unavailable)?;
    match row {
        Some(row) => decode(&row),
        None => Err(Error::NotFound { id: id.to_owned() }),
    }
}

/// Inserts or replaces whole records (config, state, node_num) in one statement.
pub async fn write_records(conn: &mut PgConnection, records: &[&NodeRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let n = records.len();
    let (mut ids, mut nums, mut hosts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut inference, mut poc) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut configs, mut states) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for r in records {
        ids.push(r.node.id.as_str());
        nums.push(to_i64(r.node.node_num));
        hosts.push(normalize_host(&r.node.host));
        inference.push(i32::from(r.node.inference_port));
        poc.push(i32::from(r.node.poc_port));
        configs.push(encode(&r.node)?);
        states.push(encode(&r.state)?);
    }
    sqlx::query(
        "INSERT INTO nodes (id, node_num, host_key, inference_port, poc_port, config, state, updated_at) \
         SELECT id, num, host, inf, poc, config::json, state::json, now() \
         FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[]) \
              AS t(id, num, host, inf, poc, config, state) \
         ON CONFLICT (id) DO UPDATE SET node_num = excluded.node_num, host_key = excluded.host_key, \
         inference_port = excluded.inference_port, poc_port = excluded.poc_port, \
         config = excluded.config, state = excluded.state, updated_at = now()",
    )
    .bind(ids)
    .bind(nums)
    .bind(hosts)
    .bind(inference)
    .bind(poc)
    .bind(configs)
    .bind(states)
    .execute(conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// Replaces the state of one node.
pub async fn write_state(conn: &mut PgConnection, record: &NodeRecord) -> Result<()> {
    sqlx::query("UPDATE nodes SET state = $1::json, updated_at = now() WHERE id = $2")
        .bind(encode(&record.state)?)
        .bind(record.node.id.as_str())
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// The last `node_num` handed out.
pub async fn read_counter(conn: &mut PgConnection) -> Result<u64> {
    let v: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE name = 'node_num'")
        .fetch_one(conn)
        .await
        .map_err(unavailable)?;
    Ok(u64::try_from(v).unwrap_or_default())
}

/// Stores the last `node_num` handed out.
pub async fn write_counter(conn: &mut PgConnection, value: u64) -> Result<()> {
    sqlx::query("UPDATE counters SET value = $1 WHERE name = 'node_num'")
        .bind(to_i64(value))
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

/// Brings every row's `host_key` to the current [`normalize_host`] (an older release keyed
/// `10.0.0.21.` apart from `10.0.0.21`), so endpoint conflicts with old rows are found. Reads the
/// keys once; writes, in one transaction under the writers' lock, only the rows whose key
/// changed. Returns how many.
pub async fn rekey_hosts(pool: &sqlx::PgPool) -> Result<usize> {
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT id, host_key, config->>'host' FROM nodes")
            .fetch_all(pool)
            .await
            .map_err(unavailable)?;
    let stale = stale_host_keys(rows);
    if stale.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await.map_err(unavailable)?;
    lock_writers(&mut tx).await?;
    for (id, key) in &stale {
        sqlx::query("UPDATE nodes SET host_key = $1 WHERE id = $2")
            .bind(key)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)?;
    Ok(stale.len())
}
