//! Reading and writing `nodes` rows (PostgreSQL).

use std::collections::HashSet;

use gonka_core::{normalize_host, Error, NodeConfig, NodeRecord, NodeState, Result};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

/// Batches larger than this read every row once instead of looking up their hosts and ids.
pub const LOAD_ALL_THRESHOLD: usize = 256;

/// The columns every `SELECT` of a whole record reads, in [`decode`]'s order.
pub const RECORD_COLUMNS: &str = "id, node_num, config::text AS config, state::text AS state";

/// Turns a storage error into [`Error::Unavailable`] with a message an operator can act on.
pub fn unavailable(e: sqlx::Error) -> Error {
    Error::Unavailable(format!("PostgreSQL error: {e}").into())
}

/// Decodes a row selected with [`RECORD_COLUMNS`].
pub fn decode(row: &PgRow) -> Result<NodeRecord> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let node_num: i64 = row.try_get("node_num").map_err(unavailable)?;
    let config: String = row.try_get("config").map_err(unavailable)?;
    let state: String = row.try_get("state").map_err(unavailable)?;
    let corrupt = |what: &str, e: serde_json::Error| {
        Error::Unavailable(format!("corrupt {what} stored for node {id:?}: {e}").into())
    };
    let mut node: NodeConfig = serde_json::from_str(&config).map_err(|e| corrupt("config", e))?;
    let state: NodeState = serde_json::from_str(&state).map_err(|e| corrupt("state", e))?;
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

/// Every stored node.
pub async fn load_all(conn: &mut PgConnection) -> Result<Vec<NodeRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {RECORD_COLUMNS} FROM nodes ORDER BY node_num"
    ))
    .fetch_all(conn)
    .await
    .map_err(unavailable)?;
    rows.iter().map(decode).collect()
}

/// The stored nodes that share a normalized host with, or have the id of, one of `configs`.
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
         SELECT id, num, host, inf, poc, config::jsonb, state::jsonb, now() \
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
    sqlx::query("UPDATE nodes SET state = $1::jsonb, updated_at = now() WHERE id = $2")
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
