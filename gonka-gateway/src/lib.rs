//! # gonka-gateway
//!
//! The network node's API side: OpenAI-compatible routing to ML nodes with schedulers, health
//! checks, retries and a holding queue; the broker that drives ML nodes to their intended state;
//! the PoC receiver; and the `gonka-gateway` binary with its `devnet` subcommand.
//!
//! # Examples
//!
//! Embed it with [`Gateway::builder`]: settings in a [`GatewayConfig`], and the trait objects the
//! gateway is made of — the node registry, the [`gonka_core::Scheduler`] (a built-in one from
//! [`scheduler_by_name`] or your own) and the epoch source:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let registry = Arc::new(gonka_core::MemoryRegistry::new());
//! let listeners = gonka_gateway::Listeners {
//!     public: tokio::net::TcpListener::bind("127.0.0.1:9000").await?,
//!     admin: None,
//!     poc: None,
//! };
//! gonka_gateway::Gateway::builder(gonka_gateway::GatewayConfig::new(registry))
//!     .scheduler(gonka_gateway::scheduler_by_name("least-busy")?)
//!     .run(listeners, std::future::pending())
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! The built-in policies are ordinary [`gonka_core::Scheduler`]s: least-busy picks the eligible
//! node with the lowest load.
//!
//! ```
//! use std::sync::Arc;
//! use gonka_core::{NodeStatus, NodeView, RequestInfo};
//!
//! let node = |id: &str, in_flight: u32| NodeView {
//!     id: id.into(),
//!     models: Arc::from(vec![Arc::<str>::from("Qwen/Qwen3-32B-FP8")]),
//!     in_flight,
//!     max_concurrent: 4,
//!     status: NodeStatus::Inference,
//!     healthy: true,
//!     admitted: true,
//!     ..NodeView::default()
//! };
//! let nodes = [node("busy", 3), node("idle", 0), node("full", 4)];
//! let least_busy = gonka_gateway::scheduler_by_name("least-busy").unwrap();
//! let pick = least_busy.pick(&RequestInfo::for_model("Qwen/Qwen3-32B-FP8"), &nodes);
//! assert_eq!(pick, Some(1));
//! assert_eq!(least_busy.pick(&RequestInfo::for_model("Qwen/QwQ-32B"), &nodes), None);
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
pub mod auth;
pub mod broker;
mod builder;
pub mod config;
pub mod context;
pub mod cors;
pub mod cross_site;
pub mod dashboard;
pub mod deploy_routes;
#[cfg(feature = "devnet")]
#[cfg_attr(docsrs, doc(cfg(feature = "devnet")))]
pub mod devnet;
pub mod epoch_clock;
pub mod error;
pub mod fleet;
mod handlers;
pub mod health;
pub mod http_serve;
pub mod metrics;
pub mod mlnode_client;
pub mod ollama;
pub mod placer;
pub mod poc;
pub mod pool;
pub mod presence;
pub mod proxy;
pub mod public_service;
pub mod request_id;
pub mod schedule;
pub mod server;
mod supervisor;
pub mod task_driver;
pub mod task_health;
pub mod traces;
pub mod upstream_config;

pub use builder::{Gateway, GatewayBuilder};
pub use config::GatewayConfig;
pub use error::{GatewayError, StartupError};
pub use handlers::health::ReadinessChecks;
pub use pool::NodePool;
pub use schedule::{scheduler_by_name, UnknownPolicy};
pub use server::{run, start, Listeners, RunningGateway};
