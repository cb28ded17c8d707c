//! [`PostgresDeploymentStore`]: deployments in the registry's PostgreSQL database.

use async_trait::async_trait;
use gonka_core::deploy::store::{apply_move, check_group_move};
use gonka_core::deploy::{
    AuditEntry, DeploymentStore, Endpoint, GroupCreation, GroupStatus, ModelRoute, Task,
    TaskFilter, TaskGroup, TaskMove,
};
use gonka_core::{Error, FieldError, Result};
use sqlx::{PgConnection, PgPool, Row};

use crate::open::OpenError;

use super::rows::unavailable;

/// A [`DeploymentStore`] in a PostgreSQL database (tables `deploy_*`, created by the same
/// embedded migrations as the registry's, so replicas sharing a registry share deployments).
/// Every read-check-write locks the rows it checks (`SELECT ... FOR UPDATE`) in one transaction,
/// so a task's compare-and-set move is atomic across replicas; group names are unique by
/// constraint.
#[derive(Debug, Clone)]
pub struct PostgresDeploymentStore {
    pool: PgPool,
}

/// Connections of a deployment store's pool.
const MAX_CONNECTIONS: u32 = 4;

impl PostgresDeploymentStore {
    /// Connects to `url` (as [`crate::PostgresRegistry::connect`] takes it) and applies the
    /// embedded migrations.
    ///
    /// # Errors
    /// As [`crate::PostgresRegistry::connect`].
    pub async fn connect(url: &str) -> std::result::Result<Self, OpenError> {
        let pool = super::open_pool(url, MAX_CONNECTIONS)
            .await
            .map_err(|e| crate::open::without_secrets(url, e))?;
        Ok(Self { pool })
    }

    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await.map_err(unavailable)
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(Error::unavailable)
}

fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T> {
    serde_json::from_str(body).map_err(Error::unavailable)
}

fn conflict(field: &str, message: String) -> Error {
    Error::Conflict(FieldError::new(field, message))
}

fn not_found(id: &str) -> Error {
    Error::NotFound { id: id.to_owned() }
}

/// The body of row `id` of `table`, locked until the transaction ends (`FOR UPDATE`; outside a
/// transaction the lock ends with the statement).
async fn body_of(conn: &mut PgConnection, table: &str, id: &str) -> Result<Option<String>> {
    let sql = format!("SELECT body FROM {table} WHERE id = $1 FOR UPDATE");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)?;
    row.map(|r| r.try_get::<String, _>(0).map_err(unavailable))
        .transpose()
}

/// The body of row `id` of `table`, without locking it.
async fn read_body(pool: &PgPool, table: &str, id: &str) -> Result<Option<String>> {
    let sql = format!("SELECT body FROM {table} WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(unavailable)?;
    row.map(|r| r.try_get::<String, _>(0).map_err(unavailable))
        .transpose()
}

/// A write error: a unique violation (a concurrent creation took the name or an id) is a
/// conflict, anything else means the database is unavailable.
fn write_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => conflict(
            if db.constraint().is_some_and(|c| c.contains("name")) {
                "name"
            } else {
                "id"
            },
            format!("a concurrent write took this name or id ({})", db.message()),
        ),
        _ => unavailable(e),
    }
}

async fn exists(conn: &mut PgConnection, table: &str, id: &str) -> Result<bool> {
    Ok(body_of(conn, table, id).await?.is_some())
}

async fn insert_task(conn: &mut PgConnection, t: &Task) -> Result<()> {
    sqlx::query(
        "INSERT INTO deploy_tasks (id, group_id, node_id, status, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&t.id)
    .bind(&t.group_id)
    .bind(&t.node_id)
    .bind(t.status.as_str())
    .bind(json(t)?)
    .execute(conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

async fn upsert_route(conn: &mut PgConnection, r: &ModelRoute) -> Result<()> {
    sqlx::query(
        "INSERT INTO deploy_routes (id, group_id, body) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET group_id = excluded.group_id, body = excluded.body",
    )
    .bind(&r.id)
    .bind(&r.task_group_id)
    .bind(json(r)?)
    .execute(conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

async fn insert_audit(conn: &mut PgConnection, e: &AuditEntry) -> Result<()> {
    sqlx::query("INSERT INTO deploy_audit (at_ms, body) VALUES ($1, $2)")
        .bind(i64::try_from(e.at_ms).unwrap_or(i64::MAX))
        .bind(json(e)?)
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn bodies<T: serde::de::DeserializeOwned>(pool: &PgPool, sql: &str) -> Result<Vec<T>> {
    let rows = sqlx::query(sql)
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>(0).map_err(unavailable)?))
        .collect()
}

#[async_trait]
impl DeploymentStore for PostgresDeploymentStore {
    async fn create_group(&self, c: GroupCreation) -> Result<()> {
        let mut tx = self.write().await?;
        let taken_name = sqlx::query("SELECT 1 FROM deploy_groups WHERE name = $1")
            .bind(&c.group.spec.name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        if taken_name.is_some() {
            return Err(conflict(
                "name",
                format!("a task group named {:?} exists", c.group.spec.name),
            ));
        }
        let mut taken = exists(&mut tx, "deploy_groups", &c.group.id).await?
            || exists(&mut tx, "deploy_routes", &c.route.id).await?;
        for t in &c.tasks {
            taken = taken || exists(&mut tx, "deploy_tasks", &t.id).await?;
        }
        if let Some(e) = &c.endpoint {
            taken = taken || exists(&mut tx, "deploy_endpoints", &e.id).await?;
        }
        if taken {
            return Err(conflict("id", "an id of the new group is taken".into()));
        }
        sqlx::query("INSERT INTO deploy_groups (id, name, status, body) VALUES ($1, $2, $3, $4)")
            .bind(&c.group.id)
            .bind(&c.group.spec.name)
            .bind(c.group.status.as_str())
            .bind(json(&c.group)?)
            .execute(&mut *tx)
            .await
            .map_err(write_error)?;
        for t in &c.tasks {
            insert_task(&mut tx, t).await?;
        }
        upsert_route(&mut tx, &c.route).await?;
        if let Some(e) = &c.endpoint {
            sqlx::query(
                "INSERT INTO deploy_endpoints (id, group_id, api_key_sha256, body) VALUES ($1, $2, $3, $4)",
            )
            .bind(&e.id)
            .bind(&e.task_group_id)
            .bind(&e.api_key_sha256)
            .bind(json(e)?)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        insert_audit(&mut tx, &c.audit).await?;
        tx.commit().await.map_err(write_error)
    }

    async fn group(&self, id: &str) -> Result<TaskGroup> {
        match read_body(&self.pool, "deploy_groups", id).await? {
            Some(body) => parse(&body),
            None => Err(not_found(id)),
        }
    }

    async fn groups(&self) -> Result<Vec<TaskGroup>> {
        bodies(
            &self.pool,
            "SELECT body FROM deploy_groups ORDER BY id COLLATE \"C\"",
        )
        .await
    }

    async fn update_group(&self, group: TaskGroup, expected: GroupStatus) -> Result<bool> {
        let mut tx = self.write().await?;
        let current: TaskGroup = match body_of(&mut tx, "deploy_groups", &group.id).await? {
            Some(body) => parse(&body)?,
            None => return Err(not_found(&group.id)),
        };
        if current.status != expected {
            return Ok(false);
        }
        check_group_move(current.status, group.status)?;
        sqlx::query("UPDATE deploy_groups SET name = $1, status = $2, body = $3 WHERE id = $4")
            .bind(&group.spec.name)
            .bind(group.status.as_str())
            .bind(json(&group)?)
            .bind(&group.id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn delete_group(&self, id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let group: TaskGroup = match body_of(&mut tx, "deploy_groups", id).await? {
            Some(body) => parse(&body)?,
            None => return Err(not_found(id)),
        };
        if !group.status.is_terminal() {
            return Err(conflict(
                "status",
                format!(
                    "task group {id} is {}; only completed or failed groups can be deleted",
                    group.status
                ),
            ));
        }
        for table in ["deploy_tasks", "deploy_routes", "deploy_endpoints"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE group_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query("DELETE FROM deploy_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let rows = sqlx::query(
            "SELECT body FROM deploy_tasks WHERE ($1::text IS NULL OR group_id = $1) \
             AND ($2::text IS NULL OR node_id = $2) AND ($3::text IS NULL OR status = $3) \
             ORDER BY id COLLATE \"C\"",
        )
        .bind(&filter.group_id)
        .bind(&filter.node_id)
        .bind(filter.status.map(|s| s.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|r| parse(&r.try_get::<String, _>(0).map_err(unavailable)?))
            .collect()
    }

    async fn task(&self, id: &str) -> Result<Task> {
        match read_body(&self.pool, "deploy_tasks", id).await? {
            Some(body) => parse(&body),
            None => Err(not_found(id)),
        }
    }

    async fn add_tasks(&self, tasks: Vec<Task>) -> Result<()> {
        let mut tx = self.write().await?;
        for t in &tasks {
            if !exists(&mut tx, "deploy_groups", &t.group_id).await? {
                return Err(not_found(&t.group_id));
            }
            if exists(&mut tx, "deploy_tasks", &t.id).await? {
                return Err(conflict("id", format!("task id {} is taken", t.id)));
            }
            insert_task(&mut tx, t).await?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn remove_task(&self, id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        let task: Task = match body_of(&mut tx, "deploy_tasks", id).await? {
            Some(body) => parse(&body)?,
            None => return Err(not_found(id)),
        };
        if task.status.is_live() {
            return Err(conflict(
                "status",
                format!("task {id} is {}; stop it before removing it", task.status),
            ));
        }
        sqlx::query("DELETE FROM deploy_tasks WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn move_task(&self, id: &str, m: TaskMove) -> Result<Option<Task>> {
        let mut tx = self.write().await?;
        let mut task: Task = match body_of(&mut tx, "deploy_tasks", id).await? {
            Some(body) => parse(&body)?,
            None => return Err(not_found(id)),
        };
        if !apply_move(&mut task, &m)? {
            return Ok(None);
        }
        sqlx::query("UPDATE deploy_tasks SET node_id = $1, status = $2, body = $3 WHERE id = $4")
            .bind(&task.node_id)
            .bind(task.status.as_str())
            .bind(json(&task)?)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        Ok(Some(task))
    }

    async fn routes(&self) -> Result<Vec<ModelRoute>> {
        bodies(
            &self.pool,
            "SELECT body FROM deploy_routes ORDER BY id COLLATE \"C\"",
        )
        .await
    }

    async fn put_route(&self, route: ModelRoute) -> Result<()> {
        let mut tx = self.write().await?;
        if !exists(&mut tx, "deploy_groups", &route.task_group_id).await? {
            return Err(not_found(&route.task_group_id));
        }
        upsert_route(&mut tx, &route).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn delete_route(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM deploy_routes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if done.rows_affected() == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    async fn endpoint_by_key(&self, sha256_hex: &str) -> Result<Option<Endpoint>> {
        let row = sqlx::query("SELECT body FROM deploy_endpoints WHERE api_key_sha256 = $1")
            .bind(sha256_hex)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| parse(&r.try_get::<String, _>(0).map_err(unavailable)?))
            .transpose()
    }

    async fn audit(&self, entry: AuditEntry) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        insert_audit(&mut conn, &entry).await
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query("SELECT body FROM deploy_audit ORDER BY seq DESC LIMIT $1")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| parse(&r.try_get::<String, _>(0).map_err(unavailable)?))
            .collect()
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: u64,
        ttl_ms: u64,
    ) -> Result<bool> {
        // One statement: the upsert locks the lease row, and its WHERE lets the update through
        // only for the holder itself or after expiry; a row comes back only when we hold it.
        let row = sqlx::query(
            "INSERT INTO deploy_leases (name, holder, expires_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
             WHERE deploy_leases.holder = excluded.holder OR deploy_leases.expires_ms <= $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(i64::try_from(now_ms.saturating_add(ttl_ms)).unwrap_or(i64::MAX))
        .bind(i64::try_from(now_ms).unwrap_or(i64::MAX))
        .fetch_optional(&self.pool)
        .await;
        match row {
            Ok(row) => Ok(row.is_some()),
            // Two first takers inserting at once: the loser sees the winner's row.
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn live_leases(&self, prefix: &str, now_ms: u64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM deploy_leases WHERE substr(name, 1, $1) = $2 AND expires_ms > $3 ORDER BY name")
            .bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
            .bind(prefix)
            .bind(i64::try_from(now_ms).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(unavailable))
            .collect()
    }
}
