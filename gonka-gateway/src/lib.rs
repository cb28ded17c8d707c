//! # gonka-gateway
//!
//! The network node's API side: OpenAI-compatible routing to ML nodes with schedulers, health
//! checks, retries and a holding queue; the broker that drives ML nodes to their intended state;
//! the PoC receiver; and the `gonka-gateway` binary with its `devnet` subcommand.
//!
//! Embed it with [`start`] or [`run`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), gonka_gateway::GatewayError> {
//! use std::sync::Arc;
//! let config = gonka_gateway::GatewayConfig::new(Arc::new(gonka_core::MemoryRegistry::new()));
//! let listeners = gonka_gateway::Listeners {
//!     public: tokio::net::TcpListener::bind("127.0.0.1:9000").await.map_err(|e| gonka_gateway::GatewayError::Startup(e.to_string()))?,
//!     admin: None,
//!     poc: None,
//! };
//! gonka_gateway::run(config, listeners, std::future::pending()).await
//! # }
//! ```

pub mod admin;
pub mod auth;
pub mod broker;
pub mod cli;
pub mod config;
pub mod devnet;
pub mod epoch_clock;
pub mod error;
pub mod handlers;
pub mod health;
pub mod http_serve;
pub mod metrics;
pub mod mlnode_client;
pub mod poc;
pub mod pool;
pub mod proxy;
pub mod request_id;
pub mod schedule;
pub mod server;
mod supervisor;
pub mod telemetry;

pub use config::GatewayConfig;
pub use error::GatewayError;
pub use pool::NodePool;
pub use schedule::Policy;
pub use server::{run, start, Listeners, RunningGateway};
