//! `GET /dashboard/api/poc`: where the epoch stands and what the latest validated PoC epoch
//! gave — participants with their weights, and each ML node's validation outcome.
//!
//! ```json
//! {"enabled": true, "epoch": 3,
//!  "phase": {"epoch": 3, "phase": "inference", "poc_start_block_height": 40, "block_hash": "..."},
//!  "last_round_epoch": 3, "validated_epoch": 3, "total_weight": 1536,
//!  "round": [{"node_id": "devnet-0", "node_num": 1, "model": "...", "mgmt_url": "..."}],
//!  "participants": {...as GET /v1/epochs/current/participants...},
//!  "outcomes": [{"node_id": "devnet-0", "outcome": "valid", "count": 512, "weight": 512, ...}]}
//! ```
//!
//! Without PoC (`--poc` off) only `enabled: false` and the epoch are set; the rest is `null`
//! or empty.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gonka_core::EpochSource;
use serde::Serialize;

use crate::poc::participants::ParticipantsResponse;
use crate::poc::validation::{Member, NodeOutcome};
use crate::poc::{PhaseInfo, PocService};

/// What the PoC route reads.
#[derive(Debug, Clone)]
pub struct PocView {
    /// The gateway's epoch source (the PoC clock when PoC runs).
    pub epoch: Arc<dyn EpochSource>,
    /// The PoC service, when PoC runs.
    pub service: Option<Arc<PocService>>,
}

/// The body of `GET /dashboard/api/poc` (see the module docs).
#[derive(Debug, Clone, Serialize)]
pub struct PocStatus {
    /// Whether this gateway runs PoC epochs.
    pub enabled: bool,
    /// The current epoch.
    pub epoch: u64,
    /// Where the epoch stands (PoC only).
    pub phase: Option<PhaseInfo>,
    /// The epoch of the latest round started, if any.
    pub last_round_epoch: Option<u64>,
    /// The latest validated epoch, if any.
    pub validated_epoch: Option<u64>,
    /// The weight of this participant in the latest validated epoch.
    pub total_weight: Option<u64>,
    /// The ML nodes of the latest round started.
    pub round: Vec<Member>,
    /// The participants of the latest validated epoch (as `/v1/epochs/current/participants`).
    pub participants: Option<ParticipantsResponse>,
    /// Each ML node's validation outcome in the latest validated epoch.
    pub outcomes: Vec<NodeOutcome>,
}

impl PocView {
    /// The status now.
    pub fn status(&self) -> PocStatus {
        let Some(service) = &self.service else {
            return PocStatus {
                enabled: false,
                epoch: self.epoch.current_epoch(),
                phase: None,
                last_round_epoch: None,
                validated_epoch: None,
                total_weight: None,
                round: Vec::new(),
                participants: None,
                outcomes: Vec::new(),
            };
        };
        let phase = service.config().clock.now();
        let last_round_epoch = service.last_round_epoch();
        let round = last_round_epoch
            .and_then(|e| service.round(e))
            .map(|r| r.members.into_values().collect())
            .unwrap_or_default();
        let latest = service.latest_result();
        let participants = latest.as_ref().map(|r| service.participants(r));
        let total_weight = participants.as_ref().map(|p| {
            p.active_participants
                .participants
                .iter()
                .map(|x| x.weight)
                .sum()
        });
        PocStatus {
            enabled: true,
            epoch: phase.epoch,
            validated_epoch: latest.as_ref().map(|r| r.info.epoch),
            outcomes: latest.map(|r| r.outcomes).unwrap_or_default(),
            phase: Some(phase),
            last_round_epoch,
            total_weight,
            round,
            participants,
        }
    }
}

/// `GET /dashboard/api/poc`.
pub async fn poc(State(view): State<PocView>) -> Response {
    Json(view.status()).into_response()
}
