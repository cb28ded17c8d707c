//! The fleet as a whole: ML node agents that join by themselves (heartbeats, optional mDNS),
//! the full topology (`GET /fleet/status`), model lifecycle across nodes
//! (`/dashboard/api/model-management`, `/dashboard/api/pull`, `/dashboard/api/delete`,
//! auto-pull, VRAM fallback) and the background upkeep (heartbeat expiry, zombie reaper).
//!
//! Every route here is served on the admin listener behind the admin API's own protection
//! (bearer token when set, cross-site refusal): see [`router`].

pub mod family;
mod heartbeat;
pub mod mdns;
mod models;
mod pull;
mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gonka_core::{GovernanceModels, NodeRegistry};

use crate::mlnode_client::MlNodeClient;
use crate::pool::NodePool;

pub use pull::PullStarted;

/// Default interval of an agent's heartbeats when it does not say (`gonka-mlnode
/// --heartbeat-interval`'s default).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// How often the upkeep task looks for expired heartbeats and stuck slots.
pub const UPKEEP_TICK: Duration = Duration::from_millis(250);

/// Settings of the fleet features (from [`crate::GatewayConfig::fleet`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSettings {
    /// Heartbeats a node may miss before it leaves the routable set (default 3: a node whose
    /// agent heartbeats every 5 s leaves after 15 s of silence).
    pub heartbeat_misses: u32,
    /// The zombie reaper returns an in-flight slot held longer than this; `None` (the default):
    /// the request timeout.
    pub reap_after: Option<Duration>,
    /// A request for a model no node has starts pulling it onto the node with the most free
    /// memory, answered 503 with `Retry-After` meanwhile (default off).
    pub auto_pull: bool,
    /// `Retry-After` of the 503 answered while a model is being pulled (default 30 s).
    pub pull_retry_after: Duration,
    /// When no node has the requested model loaded, route to a node that has a loaded model of
    /// the same family ([`family::family_of`]) instead of loading it cold, and say so in the
    /// `x-gonka-vram-fallback` response header (default off).
    pub vram_fallback: bool,
    /// Advertise the gateway's admin API by mDNS so agents started with `--discover` find it
    /// (`--mdns`; default `None`: off).
    pub mdns: Option<mdns::MdnsSettings>,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            heartbeat_misses: 3,
            reap_after: None,
            auto_pull: false,
            pull_retry_after: Duration::from_secs(30),
            vram_fallback: false,
            mdns: None,
        }
    }
}

/// The fleet features of one gateway, shared by their routes, the proxy and the upkeep task.
#[derive(Debug)]
pub struct Fleet {
    pool: Arc<NodePool>,
    client: MlNodeClient,
    registry: Arc<dyn NodeRegistry>,
    governance: GovernanceModels,
    settings: FleetSettings,
    pulls: pull::Pulls,
}

impl Fleet {
    /// The fleet over `pool`, calling agents with `client` (it carries the `--mlnode-token`) and
    /// recording auto-pulled models in `registry`; auto-pull only pulls models in `governance`.
    pub fn new(
        pool: Arc<NodePool>,
        client: MlNodeClient,
        registry: Arc<dyn NodeRegistry>,
        governance: GovernanceModels,
        settings: FleetSettings,
    ) -> Arc<Self> {
        Arc::new(Self {
            pool,
            client,
            registry,
            governance,
            settings,
            pulls: pull::Pulls::default(),
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &FleetSettings {
        &self.settings
    }

    /// Runs the upkeep until aborted: every [`UPKEEP_TICK`], nodes whose heartbeats expired
    /// leave the routable set, and slots held longer than `reap_after` are returned.
    pub async fn upkeep(self: Arc<Self>, reap_after: Duration) {
        let mut tick = tokio::time::interval(UPKEEP_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = tokio::time::Instant::now();
            self.pool.expire_heartbeats(now);
            self.pool.reap_stuck(now, reap_after);
        }
    }
}

/// The fleet routes (serve them on the admin listener, behind its protection):
///
/// | route | what |
/// |---|---|
/// | `POST /fleet/nodes/{id}/heartbeat` | an agent's heartbeat: its `/api/v1/state` body |
/// | `GET /fleet/status` | full topology |
/// | `GET /dashboard/api/model-management` | models per node: loaded and on disk |
/// | `POST /dashboard/api/pull` | `{model, node_id}`: download a model onto a node (202) |
/// | `POST /dashboard/api/delete` | `{model, node_id}`: remove a model from a node (200) |
pub fn router(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/fleet/nodes/{id}/heartbeat", post(heartbeat::heartbeat))
        .route("/fleet/status", get(status::fleet_status))
        .route(
            "/dashboard/api/model-management",
            get(models::model_management),
        )
        .route("/dashboard/api/pull", post(models::pull))
        .route("/dashboard/api/delete", post(models::delete))
        .with_state(fleet)
}

/// An error answer of the fleet routes: `{"error": "..."}` with its status.
#[derive(Debug)]
pub(crate) struct FleetError {
    status: StatusCode,
    message: String,
}

impl FleetError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for FleetError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({"error": self.message})),
        )
            .into_response()
    }
}
