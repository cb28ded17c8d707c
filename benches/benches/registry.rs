//! Registry: durable batch upsert of 10,000 nodes (target < 1 s on SQLite) and list of 10,000
//! nodes (target < 50 ms), on SQLite (a file in a temp dir, WAL + synchronous=FULL, as in
//! production), on PostgreSQL when `GONKA_TEST_POSTGRES_URL` is set (a fresh database, dropped at
//! the end), and on the in-memory registry for reference.
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use gonka_admin::{PostgresRegistry, SqliteRegistry};
use gonka_benches::fixtures::configs;
use gonka_core::{MemoryRegistry, NodeRegistry};
use sqlx::{Connection, Executor};
use tokio::runtime::Runtime;

const NODES: usize = 10_000;

/// Databases the PostgreSQL bench created, dropped when it ends.
static PG_DATABASES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn die(what: &str, e: impl std::fmt::Display) -> ! {
    panic!("registry bench: {what}: {e}")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| die("runtime", e))
}

/// Upserts 10,000 new nodes (a fresh prefix each time, so every call inserts) and checks that
/// all were stored.
async fn upsert_all(registry: &dyn NodeRegistry, prefix: &str) -> Duration {
    let batch = configs(prefix, NODES);
    let start = Instant::now();
    let results = registry
        .upsert_batch(batch)
        .await
        .unwrap_or_else(|e| die("upsert_batch", e));
    let elapsed = start.elapsed();
    let stored = results.iter().filter(|r| r.is_ok()).count();
    if stored != NODES {
        die("upsert_batch", format!("stored {stored} of {NODES}"));
    }
    elapsed
}

async fn list_all(registry: &dyn NodeRegistry, expected: usize) {
    let nodes = registry.list().await.unwrap_or_else(|e| die("list", e));
    if nodes.len() != expected {
        die("list", format!("listed {} of {expected}", nodes.len()));
    }
}

/// Where a bench's registry comes from.
#[derive(Clone)]
enum Backend {
    /// A fresh SQLite file in a temp dir per use.
    Sqlite,
    /// A fresh in-memory registry per use.
    Memory,
    /// A fresh database per use on the PostgreSQL server at this URL (dropped at the end).
    Postgres(String),
}

impl Backend {
    async fn open(&self) -> Arc<dyn NodeRegistry> {
        match self {
            Backend::Sqlite => Arc::new(
                SqliteRegistry::in_temp_dir()
                    .await
                    .unwrap_or_else(|e| die("open SQLite", e)),
            ),
            Backend::Memory => Arc::new(MemoryRegistry::new()),
            Backend::Postgres(base) => {
                let db = format!(
                    "gonka_bench_{}_{}",
                    std::process::id(),
                    PG_DATABASES.lock().map(|d| d.len()).unwrap_or(0)
                );
                let mut admin = sqlx::PgConnection::connect(base)
                    .await
                    .unwrap_or_else(|e| die("connect to PostgreSQL", e));
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {db}").as_str())
                    .await
                    .unwrap_or_else(|e| die("drop old bench database", e));
                admin
                    .execute(format!("CREATE DATABASE {db}").as_str())
                    .await
                    .unwrap_or_else(|e| die("create bench database", e));
                if let Ok(mut d) = PG_DATABASES.lock() {
                    d.push(db.clone());
                }
                Arc::new(
                    PostgresRegistry::connect(&with_database(base, &db))
                        .await
                        .unwrap_or_else(|e| die("open PostgreSQL registry", e)),
                )
            }
        }
    }
}

fn bench_backend(c: &mut Criterion, name: &str, rt: &Runtime, backend: &Backend) {
    static PREFIX: AtomicU64 = AtomicU64::new(0);
    let mut group = c.benchmark_group(format!("registry_{name}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(100))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("batch_upsert_10000_new_nodes", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let backend = backend.clone();
            async move {
                let registry = backend.open().await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let p = format!("b{}", PREFIX.fetch_add(1, Ordering::Relaxed));
                    total += upsert_all(registry.as_ref(), &p).await;
                }
                total
            }
        });
    });
    let listed = rt.block_on(backend.open());
    let before = rt
        .block_on(listed.list())
        .unwrap_or_else(|e| die("list", e))
        .len();
    let p = format!("l{}", PREFIX.fetch_add(1, Ordering::Relaxed));
    rt.block_on(upsert_all(listed.as_ref(), &p));
    group.bench_function("list_10000_nodes", |b| {
        b.to_async(rt)
            .iter(|| list_all(listed.as_ref(), before + NODES));
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    bench_backend(c, "sqlite", &runtime(), &Backend::Sqlite);
}

fn memory(c: &mut Criterion) {
    bench_backend(c, "memory", &runtime(), &Backend::Memory);
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    let (main, query) = url
        .split_once('?')
        .map_or((url, String::new()), |(m, q)| (m, format!("?{q}")));
    let (scheme, rest) = main.split_once("://").unwrap_or(("postgres", main));
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{db}{query}")
}

fn postgres(c: &mut Criterion) {
    let Some(base) = std::env::var("GONKA_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        println!(
            "registry_postgres: skipped: GONKA_TEST_POSTGRES_URL unset (run scripts/postgres.sh)"
        );
        return;
    };
    let rt = runtime();
    bench_backend(c, "postgres", &rt, &Backend::Postgres(base.clone()));
    let databases = PG_DATABASES.lock().map(|d| d.clone()).unwrap_or_default();
    rt.block_on(async {
        let Ok(mut admin) = sqlx::PgConnection::connect(&base).await else {
            eprintln!("registry_postgres: could not reconnect to drop {databases:?}");
            return;
        };
        for db in databases {
            let drop = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
            if let Err(e) = admin.execute(drop.as_str()).await {
                eprintln!("registry_postgres: could not drop {db}: {e}");
            }
        }
    });
}

criterion_group!(benches, sqlite, postgres, memory);
criterion_main!(benches);
