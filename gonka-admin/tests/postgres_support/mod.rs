//! Shared fixtures of the PostgreSQL tests: a fresh database per test on the server named by
//! `GONKA_TEST_POSTGRES_URL` (see `scripts/postgres.sh`), and a TCP forwarder that can play
//! "database down".
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The environment variable naming the test server's database URL.
pub const URL_VAR: &str = "GONKA_TEST_POSTGRES_URL";

/// A database created for one test; [`TestDb::drop_db`] removes it (and so does dropping the
/// value, e.g. when the test panics).
pub struct TestDb {
    /// URL of the fresh database.
    pub url: String,
    /// Its name.
    pub name: String,
    base: String,
    dropped: bool,
}

/// The test server URL, or `None` after printing why the test is skipped.
pub fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            println!("skipped: {URL_VAR} unset (run scripts/postgres.sh)");
            None
        }
    }
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let (scheme, rest) = main.split_once("://").unwrap();
    let authority = rest.split('/').next().unwrap();
    format!("{scheme}://{authority}/{db}{query}")
}

/// `url` with its host and port replaced by `addr`.
pub fn with_address(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{addr}/{path}", userinfo.unwrap_or_default())
}

/// The server's address from its URL (host must be an IP literal or `localhost`).
pub fn server_addr(url: &str) -> SocketAddr {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split('/').next().unwrap();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let hostport = hostport.replace("localhost", "127.0.0.1");
    if hostport.contains(':') {
        hostport.parse().unwrap()
    } else {
        format!("{hostport}:5432").parse().unwrap()
    }
}

fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "gonka_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

impl TestDb {
    /// Creates an empty database, or returns `None` (after printing the reason) without a server.
    pub async fn create() -> Option<Self> {
        let base = server_url()?;
        let name = unique_name();
        let mut conn = PgConnection::connect(&base).await.unwrap();
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
        Some(Self {
            url: with_database(&base, &name),
            name,
            base,
            dropped: false,
        })
    }

    /// Runs `sql` (several statements allowed) in the database.
    pub async fn execute(&self, sql: &str) {
        let mut conn = PgConnection::connect(&self.url).await.unwrap();
        conn.execute(sql).await.unwrap();
        conn.close().await.unwrap();
    }

    /// Drops the database, closing any connection still open to it.
    pub async fn drop_db(mut self) {
        drop_database(&self.base, &self.name).await;
        self.dropped = true;
    }
}

async fn drop_database(base: &str, name: &str) {
    let mut conn = PgConnection::connect(base).await.unwrap();
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Not dropped explicitly (the test failed): remove it from a thread of its own, since
        // this may run inside the test's runtime.
        let (base, name) = (self.base.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&base).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = conn.execute(sql.as_str()).await;
                    }
                });
            }
        })
        .join();
    }
}

/// A loopback TCP forwarder to the database server that can be switched off: while down, every
/// forwarded connection is cut and new ones are closed at once, as when the server is stopped.
pub struct Forwarder {
    /// Where clients connect.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Forwarder {
    /// Starts forwarding `127.0.0.1:0` → `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let refused = Arc::new(AtomicU64::new(0));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (up, refused, links) = (Arc::clone(&up), Arc::clone(&refused), Arc::clone(&links));
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        refused.fetch_add(1, Ordering::SeqCst);
                        drop(client);
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    let mut links = links.lock().unwrap();
                    links.retain(|l| !l.is_finished());
                    links.push(link);
                }
            })
        };
        Self {
            addr,
            up,
            refused,
            links,
            accept,
        }
    }

    /// Connections closed at once because the forwarder was down (reconnection attempts).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// Cuts every connection and refuses new ones until [`up`](Self::up).
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Forwards new connections again.
    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.accept.abort();
        self.down();
    }
}
