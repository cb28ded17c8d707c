//! [`SqliteDeploymentStore`]: deployments in the registry's SQLite database file.

use async_trait::async_trait;
use gonka_core::deploy::store::{apply_move, check_group_move};
use gonka_core::deploy::{
    AuditEntry, DeploymentStore, Endpoint, GroupCreation, GroupStatus, ModelRoute, Task,
    TaskFilter, TaskGroup, TaskMove,
};
use gonka_core::{Error, FieldError, Result};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::open::OpenError;

use super::rows::unavailable;

/// A [`DeploymentStore`] in an SQLite database file (tables `deploy_*`, created by the same
/// embedded migrations as the registry's, so the registry's file holds both). Every write is one
/// `BEGIN IMMEDIATE` transaction: writers queue on the database lock, so a read-check-write such
/// as a task's compare-and-set move sees no concurrent change.
#[derive(Debug, Clone)]
pub struct SqliteDeploymentStore {
    pool: SqlitePool,
}

impl SqliteDeploymentStore {
    /// Opens (creating if missing) the database at `url` (as [`crate::SqliteRegistry::connect`]
    /// takes it) and applies the embedded migrations. `sqlite::memory:` opens a private
    /// in-memory database.
    ///
    /// # Errors
    /// As [`crate::SqliteRegistry::connect`].
    pub async fn connect(url: &str) -> std::result::Result<Self, OpenError> {
        Ok(Self {
            pool: super::open_url_pool(url, 4).await?,
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
            pool: super::open_pool(options, false, 4).await?,
        })
    }

    async fn write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)
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

async fn body_of(conn: &mut SqliteConnection, table: &str, id: &str) -> Result<Option<String>> {
    let sql = format!("SELECT body FROM {table} WHERE id = ?");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(conn)
        .await
        .map_err(unavailable)?;
    row.map(|r| r.try_get::<String, _>(0).map_err(unavailable))
        .transpose()
}

async fn exists(conn: &mut SqliteConnection, table: &str, id: &str) -> Result<bool> {
    Ok(body_of(conn, table, id).await?.is_some())
}

async fn insert_task(conn: &mut SqliteConnection, t: &Task) -> Result<()> {
    sqlx::query(
        "INSERT INTO deploy_tasks (id, group_id, node_id, status, body) VALUES (?, ?, ?, ?, ?)",
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

async fn upsert_route(conn: &mut SqliteConnection, r: &ModelRoute) -> Result<()> {
    sqlx::query(
        "INSERT INTO deploy_routes (id, group_id, body) VALUES (?, ?, ?) \
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

async fn insert_audit(conn: &mut SqliteConnection, e: &AuditEntry) -> Result<()> {
    sqlx::query("INSERT INTO deploy_audit (at_ms, body) VALUES (?, ?)")
        .bind(i64::try_from(e.at_ms).unwrap_or(i64::MAX))
        .bind(json(e)?)
        .execute(conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn bodies<T: serde::de::DeserializeOwned>(pool: &SqlitePool, sql: &str) -> Result<Vec<T>> {
    let rows = sqlx::query(sql)
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    rows.iter()
        .map(|r| parse(&r.try_get::<String, _>(0).map_err(unavailable)?))
        .collect()
}

#[async_trait]
impl DeploymentStore for SqliteDeploymentStore {
    async fn create_group(&self, c: GroupCreation) -> Result<()> {
        let mut tx = self.write().await?;
        let taken_name = sqlx::query("SELECT 1 FROM deploy_groups WHERE name = ?")
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
        sqlx::query("INSERT INTO deploy_groups (id, name, status, body) VALUES (?, ?, ?, ?)")
            .bind(&c.group.id)
            .bind(&c.group.spec.name)
            .bind(c.group.status.as_str())
            .bind(json(&c.group)?)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        for t in &c.tasks {
            insert_task(&mut tx, t).await?;
        }
        upsert_route(&mut tx, &c.route).await?;
        if let Some(e) = &c.endpoint {
            sqlx::query(
                "INSERT INTO deploy_endpoints (id, group_id, api_key_sha256, body) VALUES (?, ?, ?, ?)",
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
        tx.commit().await.map_err(unavailable)
    }

    async fn group(&self, id: &str) -> Result<TaskGroup> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        match body_of(&mut conn, "deploy_groups", id).await? {
            Some(body) => parse(&body),
            None => Err(not_found(id)),
        }
    }

    async fn groups(&self) -> Result<Vec<TaskGroup>> {
        bodies(&self.pool, "SELECT body FROM deploy_groups ORDER BY id").await
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
        sqlx::query("UPDATE deploy_groups SET name = ?, status = ?, body = ? WHERE id = ?")
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
            sqlx::query(&format!("DELETE FROM {table} WHERE group_id = ?"))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query("DELETE FROM deploy_groups WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>> {
        let rows = sqlx::query(
            "SELECT body FROM deploy_tasks WHERE (?1 IS NULL OR group_id = ?1) \
             AND (?2 IS NULL OR node_id = ?2) AND (?3 IS NULL OR status = ?3) ORDER BY id",
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
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        match body_of(&mut conn, "deploy_tasks", id).await? {
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
        sqlx::query("DELETE FROM deploy_tasks WHERE id = ?")
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
        sqlx::query("UPDATE deploy_tasks SET node_id = ?, status = ?, body = ? WHERE id = ?")
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
        bodies(&self.pool, "SELECT body FROM deploy_routes ORDER BY id").await
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
        let done = sqlx::query("DELETE FROM deploy_routes WHERE id = ?")
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
        let row = sqlx::query("SELECT body FROM deploy_endpoints WHERE api_key_sha256 = ?")
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
        let rows = sqlx::query("SELECT body FROM deploy_audit ORDER BY seq DESC LIMIT ?")
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
        let mut tx = self.write().await?;
        let row = sqlx::query("SELECT holder, expires_ms FROM deploy_leases WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let free = match row {
            None => true,
            Some(r) => {
                let current: String = r.try_get(0).map_err(unavailable)?;
                let expires: i64 = r.try_get(1).map_err(unavailable)?;
                current == holder || expires <= now
            }
        };
        if !free {
            return Ok(false);
        }
        let result = sqlx::query("INSERT INTO deploy_leases (name, holder, expires_ms) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms")
            .bind(name)
            .bind(holder)
            .bind(i64::try_from(now_ms.saturating_add(ttl_ms)).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await;
        match result {
            Ok(_) => {}
            // Another replica inserted the first row of this lease at the same moment.
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
                return Ok(false)
            }
            Err(e) => return Err(unavailable(e)),
        }
        match tx.commit().await {
            Ok(()) => Ok(true),
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn live_leases(&self, prefix: &str, now_ms: u64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM deploy_leases WHERE substr(name, 1, ?) = ? AND expires_ms > ? ORDER BY name")
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
