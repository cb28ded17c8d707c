//! # gonka-core
//!
//! The foundation of the gonka SDK for running an inference host on the Gonka network:
//!
//! - the wire types of the admin API ([`NodeConfig`], [`NodeRecord`], [`NodeState`]) with exactly
//!   the field names of the upstream network node and the seed documents;
//! - validation as pure functions that report *every* problem with the field it concerns
//!   ([`validate`], [`GovernanceModels`]);
//! - one semantic error enum ([`Error`]) with no HTTP in it;
//! - the traits the rest of the system is built on: [`NodeRegistry`], [`TraceStore`], [`Scheduler`],
//!   [`InferenceBackend`], [`PoCVerifier`] and [`PocEpochSource`] (the epoch, its PoC phase and
//!   each PoC stage's parameters; [`EpochSource`] is its epoch-only part);
//! - the wire types of the ML node management API ([`mlnode_api`]), shared by the agent and
//!   the gateway's client;
//! - an in-memory registry ([`MemoryRegistry`]) and, behind the `testing` feature, the conformance
//!   suite every registry implementation runs with one line ([`testing::registry_suite`]).
//!
//! Without features, nothing in this crate does network or disk I/O. Three features hold what the
//! binaries' crates share: `server` ([`server`]: the HTTP serve loop with client read timeouts
//! and connection caps, the open-file limit, the shutdown signal, the OpenAI error body), `logging` ([`logging`]: tracing set-up for
//! binaries) and `cli` ([`cli`]: flags layered over an optional TOML config file). The `testing`
//! suites probe the engines they check over loopback HTTP.
//!
//! # Examples
//!
//! Validate a node as the admin API receives it, store it, and see it in the registry:
//!
//! ```
//! use gonka_core::{validate, GovernanceModels, MemoryRegistry, NodeRegistry, NodeStatus};
//! use gonka_core::DEFAULT_GOVERNANCE_MODELS;
//!
//! let governance = GovernanceModels::new(DEFAULT_GOVERNANCE_MODELS);
//! let body = serde_json::json!({
//!     "id": "node1", "host": "10.0.0.21", "inference_port": 5050, "poc_port": 8080,
//!     "max_concurrent": 500, "models": {"Qwen/Qwen3-32B-FP8": {"args": []}}
//! });
//! let node = validate(&body, &governance).expect("a valid node");
//!
//! // Every problem is reported, each with the field it concerns.
//! let bad = serde_json::json!({"id": "", "host": "h", "inference_port": 0, "poc_port": 1,
//!                              "max_concurrent": 1, "models": {"Qwen/QwQ-32B": {"args": []}}});
//! let errors = validate(&bad, &governance).unwrap_err();
//! assert!(errors.iter().any(|e| e.field == "id"));
//! assert!(errors.iter().any(|e| e.field == "inference_port"));
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! runtime.block_on(async {
//!     let registry = MemoryRegistry::new();
//!     let stored = registry.upsert(node).await.unwrap();
//!     assert!(stored.node.node_num >= 1, "the registry assigns node_num");
//!     assert_eq!(stored.state.current_status, NodeStatus::Unknown);
//!     assert_eq!(registry.list().await.unwrap().len(), 1);
//! });
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod eligibility;
mod epoch;
mod epoch_poc;
mod error;
mod governance;
mod node;
mod registry;
mod scheduler;
mod scheduler_index;
mod state;
mod verifier;

pub mod cross_site;
pub mod deploy;
pub mod exposure;
pub mod mlnode_api;
pub mod poc;
pub mod traces;
pub mod validation;

#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;
#[cfg(feature = "logging")]
#[cfg_attr(docsrs, doc(cfg(feature = "logging")))]
pub mod logging;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
#[cfg(feature = "telemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "telemetry")))]
pub mod telemetry;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "trace-context")]
#[cfg_attr(docsrs, doc(cfg(feature = "trace-context")))]
pub mod trace_context;

pub use backend::{EngineHealth, InferenceBackend, LaunchSpec};
pub use eligibility::{is_candidate, Ineligible};
pub use epoch::{EpochSource, ManualEpoch};
pub use epoch_poc::{ModelStageParams, Phase, PhaseInfo, PocEpochSource, StageParams};
pub use error::{Error, FieldError, Result};
pub use governance::{GovernanceModels, DEFAULT_GOVERNANCE_MODELS};
pub use node::{Hardware, ModelArgs, NodeConfig};
pub use registry::{
    apply_status_update, find_endpoint_conflict, BatchItemResult, MemoryRegistry, NodeRegistry,
    RegistryEvent, StatusUpdate, WATCH_CAPACITY,
};
pub use scheduler::{
    LoadedModel, MemoryPressure, NodeView, RequestInfo, Scheduler, ScoreBreakdown, SignalScore,
};
pub use scheduler_index::{OrderedIndex, SchedulerIndex};
pub use state::{AdminState, NodeRecord, NodeState, NodeStatus, PocStatus};
pub use traces::{MemoryTraceStore, Trace, TraceStore};
pub use validation::{
    normalize_host, stale_host_keys, validate, validate_batch, validate_config, BatchError,
    BatchValidator,
};
pub use verifier::{Decision, PoCVerifier, Verdict, VerificationRequest};
