//! The change feed across processes: a task that LISTENs on [`CHANNEL`] and turns other
//! registries' notifications into [`RegistryEvent`]s.
//!
//! - A notification from another registry is resolved by reading just the named rows, under the
//!   local write gate, so events for one node stay in commit order with this registry's own.
//! - The registry's own notifications are not re-emitted (its writes emit after commit).
//! - When the listening connection is lost, the task reconnects with backoff and then re-lists:
//!   `Deleted` for every node it knew that is gone, `Upserted` for every node present. Consumers
//!   must therefore treat events as idempotent (the gateway's pool does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::{NodeRecord, RegistryEvent, Result};
use sqlx::postgres::PgListener;
use sqlx::PgPool;

use super::notice::{placeholder_record, Notice, CHANNEL};
use super::rows;
use super::Shared;

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Nodes the feed knows of: id → node_num. Used to find deletions missed while disconnected.
pub type Known = HashMap<String, u64>;

/// Opens a listening connection on [`CHANNEL`].
///
/// # Errors
/// When no connection can be made.
pub async fn listen(pool: &PgPool) -> std::result::Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The nodes stored now, as a [`Known`] map.
pub fn known_of(records: &[NodeRecord]) -> Known {
    records
        .iter()
        .map(|r| (r.node.id.clone(), r.node.node_num))
        .collect()
}

/// Follows the channel until the task is aborted.
pub async fn follow(shared: Arc<Shared>, listener: PgListener, mut known: Known) {
    let mut listener = Some(listener);
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(active) = listener.as_mut() else {
            match reconnect(&shared, &mut known).await {
                Ok(l) => {
                    tracing::info!("registry change feed reconnected and re-listed");
                    listener = Some(l);
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "registry change feed cannot reconnect");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            continue;
        };
        let outcome = match active.try_recv().await {
            Ok(Some(n)) => handle(&shared, &mut known, n.payload()).await,
            Ok(None) => Err(gonka_core::Error::Unavailable(
                "listening connection lost".into(),
            )),
            Err(e) => Err(rows::unavailable(e)),
        };
        if let Err(e) = outcome {
            // Changes may have been missed: reconnect, then re-list.
            tracing::warn!(error = %e, "registry change feed interrupted; reconnecting");
            listener = None;
        }
    }
}

async fn reconnect(shared: &Shared, known: &mut Known) -> Result<PgListener> {
    // The database may have been replaced (restored from a backup) while we were cut off, and
    // its version counter with it: trust no cached list from before.
    shared.cache.clear();
    let listener = listen(&shared.pool).await.map_err(rows::unavailable)?;
    resync(shared, known).await?;
    Ok(listener)
}

/// Re-lists every node and emits the differences as events (see the module docs).
async fn resync(shared: &Shared, known: &mut Known) -> Result<()> {
    let _gate = shared.write.lock().await;
    let mut conn = shared.pool.acquire().await.map_err(rows::unavailable)?;
    let (version, records) = rows::load_versioned(&mut conn).await?;
    drop(conn);
    shared
        .cache
        .store(version, std::sync::Arc::new(records.clone()));
    let now = known_of(&records);
    for (id, num) in known.iter() {
        if !now.contains_key(id) {
            shared.emit(RegistryEvent::Deleted(placeholder_record(id, *num)));
        }
    }
    for r in records {
        shared.emit(RegistryEvent::Upserted(r));
    }
    *known = now;
    Ok(())
}

async fn handle(shared: &Shared, known: &mut Known, payload: &str) -> Result<()> {
    let notice: Notice = match serde_json::from_str(payload) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, payload, "ignoring an unreadable registry notification");
            return Ok(());
        }
    };
    let own = notice.origin() == shared.origin;
    match notice {
        Notice::Upserted { nodes, .. } => {
            if !own {
                let ids: Vec<String> = nodes.iter().map(|(id, _)| id.clone()).collect();
                let _gate = shared.write.lock().await;
                let mut conn = shared.pool.acquire().await.map_err(rows::unavailable)?;
                // A node missing now was deleted since; its own notification follows.
                for r in rows::load_ids(&mut conn, &ids).await? {
                    shared.emit(RegistryEvent::Upserted(r));
                }
            }
            known.extend(nodes);
        }
        Notice::Deleted {
            id,
            node_num,
            record,
            ..
        } => {
            known.remove(&id);
            if !own {
                let record = record.map_or_else(|| placeholder_record(&id, node_num), |r| *r);
                let _gate = shared.write.lock().await;
                shared.emit(RegistryEvent::Deleted(record));
            }
        }
        Notice::Resync { .. } => resync(shared, known).await?,
    }
    Ok(())
}
