//! `GET /v1/epochs/{epoch}/participants` in upstream's shape (snake_case).
//!
//! What the fields mean on this host (one host = one participant):
//! - `active_participants.participants[0]`: this host. `index` and `validator_key` are the
//!   configured participant address and public key; `weight` is the sum of its ML nodes'
//!   weights (each node's committed nonce count when its sample validated, else 0, times the
//!   model coefficient 1.0 and TNF 1.0); `inference_url` is the public API URL; `models` the
//!   models its valid nodes computed; `seed` names the epoch and the PoC seed block hash (no
//!   signature without a chain: `signature` is empty); `ml_nodes[0].ml_nodes` lists every node
//!   of the round with its `poc_weight` and validation outcome.
//! - `epoch_id` is the epoch whose PoC produced the weights; `poc_start_block_height` its stage
//!   height; `epoch_group_id`, `effective_block_height`, `created_at_block_height` are derived
//!   from it on the devnet clock.
//! - `excluded_participants`: the host itself when no node validated (`reason` says why).
//!   Nodes that failed validation stay listed in `ml_nodes` with weight 0 and their outcome.

use serde::Serialize;

use super::validation::NodeOutcome;

/// The whole response.
#[derive(Debug, Clone, Serialize)]
pub struct ParticipantsResponse {
    /// The participants of the epoch.
    pub active_participants: ActiveParticipants,
    /// Addresses of the active participants.
    pub addresses: Vec<String>,
    /// Participants left out, with the reason.
    pub excluded_participants: Vec<ExcludedParticipant>,
}

/// `active_participants`.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveParticipants {
    /// The participants.
    pub participants: Vec<Participant>,
    /// Epoch group id (the epoch number here).
    pub epoch_group_id: u64,
    /// Height of the PoC stage start.
    pub poc_start_block_height: u64,
    /// Height from which the weights apply.
    pub effective_block_height: u64,
    /// Height at which the list was made.
    pub created_at_block_height: u64,
    /// The epoch whose PoC produced the list.
    pub epoch_id: u64,
}

/// One participant.
#[derive(Debug, Clone, Serialize)]
pub struct Participant {
    /// Participant address.
    pub index: String,
    /// Participant public key (hex).
    pub validator_key: String,
    /// Total weight.
    pub weight: u64,
    /// Public inference URL.
    pub inference_url: String,
    /// Models with weight.
    pub models: Vec<String>,
    /// Seed of the epoch.
    pub seed: Seed,
    /// ML nodes, grouped per model as upstream (one group here).
    pub ml_nodes: Vec<MlNodeGroup>,
}

/// `seed`.
#[derive(Debug, Clone, Serialize)]
pub struct Seed {
    /// Participant address.
    pub participant: String,
    /// Epoch.
    pub epoch_index: u64,
    /// PoC seed block hash (upstream: a signature; empty signature without a chain).
    pub block_hash: String,
    /// Empty without a chain.
    pub signature: String,
}

/// `ml_nodes[i]`.
#[derive(Debug, Clone, Serialize)]
pub struct MlNodeGroup {
    /// The nodes.
    pub ml_nodes: Vec<MlNodeEntry>,
}

/// One ML node of a participant.
#[derive(Debug, Clone, Serialize)]
pub struct MlNodeEntry {
    /// Registry id.
    pub node_id: String,
    /// `node_num`.
    pub node_num: u32,
    /// Its weight (committed count when valid, else 0).
    pub poc_weight: u64,
    /// Nonces it committed.
    pub count: u64,
    /// Validation outcome and statistics.
    pub validation: NodeOutcome,
}

/// `excluded_participants[i]`.
#[derive(Debug, Clone, Serialize)]
pub struct ExcludedParticipant {
    /// Participant address.
    pub address: String,
    /// Why.
    pub reason: String,
    /// Height of the exclusion.
    pub exclusion_block_height: u64,
}

/// Who this host is, for the participants list.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Participant address.
    pub address: String,
    /// Public key (hex).
    pub public_key: String,
    /// Public inference URL.
    pub inference_url: String,
}

/// Builds the response for `epoch` from its node outcomes.
pub fn build(
    identity: &Identity,
    epoch: u64,
    block_hash: &str,
    poc_start_block_height: u64,
    outcomes: &[NodeOutcome],
) -> ParticipantsResponse {
    let weight = gonka_core::poc::weights::model_weight(
        &outcomes.iter().map(|o| o.weight).collect::<Vec<_>>(),
        1.0,
        1.0,
    );
    let nodes = outcomes
        .iter()
        .map(|o| MlNodeEntry {
            node_id: o.node_id.clone(),
            node_num: o.node_num,
            poc_weight: o.weight,
            count: o.count,
            validation: o.clone(),
        })
        .collect();
    let participant = Participant {
        index: identity.address.clone(),
        validator_key: identity.public_key.clone(),
        weight,
        inference_url: identity.inference_url.clone(),
        models: outcomes
            .iter()
            .filter(|o| o.weight > 0)
            .map(|o| o.model.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
        seed: Seed {
            participant: identity.address.clone(),
            epoch_index: epoch,
            block_hash: block_hash.to_owned(),
            signature: String::new(),
        },
        ml_nodes: vec![MlNodeGroup { ml_nodes: nodes }],
    };
    let (participants, excluded) = if weight > 0 {
        (vec![participant], Vec::new())
    } else {
        let reason = if outcomes.is_empty() {
            "no enabled ML node took part in the PoC".to_owned()
        } else {
            format!(
                "no ML node passed PoC validation ({})",
                outcomes
                    .iter()
                    .map(|o| format!("{}: {}", o.node_id, o.outcome))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        (
            Vec::new(),
            vec![ExcludedParticipant {
                address: identity.address.clone(),
                reason,
                exclusion_block_height: poc_start_block_height,
            }],
        )
    };
    ParticipantsResponse {
        addresses: participants.iter().map(|p| p.index.clone()).collect(),
        active_participants: ActiveParticipants {
            participants,
            epoch_group_id: epoch,
            poc_start_block_height,
            effective_block_height: poc_start_block_height,
            created_at_block_height: poc_start_block_height,
            epoch_id: epoch,
        },
        excluded_participants: excluded,
    }
}
