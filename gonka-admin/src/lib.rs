//! # gonka-admin
//!
//! The admin API of the network node (seed 000): an axum `Router` to serve or embed, the durable
//! SQLite and PostgreSQL registries and request trace stores, a typed client, and the
//! `gonka-admin` binary.
//!
//! # Examples
//!
//! Serve the admin API on a SQLite registry until Ctrl-C:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let registry = gonka_admin::open_registry("sqlite://gonka.db").await?;
//! let app = gonka_admin::router(registry, gonka_admin::AdminOptions::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9200").await?;
//! gonka_admin::run(app, listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
//!
//! Drive it with the typed client:
//!
//! ```no_run
//! # async fn demo() -> Result<(), gonka_admin::ClientError> {
//! let client = gonka_admin::Client::new("http://127.0.0.1:9200");
//! let node = gonka_core::NodeConfig::new("node1", "Qwen/Qwen3-32B-FP8").at("10.0.0.21", 5050, 8080);
//! let stored = client.create(&node).await?;
//! assert!(stored.node_num >= 1);
//! client.disable("node1").await?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod budget;
mod chunks;
pub mod client;
mod cross_site;
pub mod deploy;
mod error;
mod extract;
mod handlers;
mod import;
mod metrics;
mod open;
pub mod openapi;
mod options;
mod postgres;
mod probes;
mod redact;
mod router;
mod server;
mod service;
mod sqlite;
mod state;

pub use auth::require_token;
pub use budget::BODY_BUDGET_WAIT;
pub use client::{Client, ClientError};
pub use cross_site::refuse_cross_site;
pub use deploy::{deploy_router, deploy_router_with_health, FleetGpus, TaskHealthSource};
pub use error::ApiError;
pub use handlers::admin_state::AdminStateChanged;
pub use handlers::batch::PartialBatch;
pub use import::{import_nodes, import_nodes_file, ImportError, ImportReport};
pub use metrics::{with_metrics, AdminMetrics};
pub use open::{open_deployment_store, open_registry, open_trace_store, OpenError};
pub use openapi::{openapi, openapi_for};
pub use options::{AdminOptions, DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT, SMALL_BODY};
pub use postgres::deploy::PostgresDeploymentStore;
pub use postgres::traces::PostgresTraceStore;
pub use postgres::{PostgresRegistry, DEFAULT_ACQUIRE_TIMEOUT, WRITE_TIMEOUT};
pub use probes::probe_router;
pub use redact::redact_url;
pub use router::router;
#[cfg(feature = "tls")]
pub use server::run_with_tls;
pub use server::{log_request, run, run_with_limits};
pub use service::{run_server, RunError, ServerConfig};
pub use sqlite::deploy::SqliteDeploymentStore;
pub use sqlite::traces::SqliteTraceStore;
pub use sqlite::SqliteRegistry;
pub use state::AppState;
