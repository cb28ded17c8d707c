//! The validation runner (docs/poc-v2.md §5–§7 on one host): for every ML node of a round, commit its
//! artifacts (arrival order) in a Merkle mountain range, sample leaves, build and check their
//! inclusion proofs, have the [`PoCVerifier`] recompute and judge the proven ones, count leaves
//! whose nonce is not the node's as mismatches, and judge with the binomial test. A node's weight
//! is its committed count when valid, 0 otherwise.

use std::collections::BTreeMap;

use gonka_core::poc::compute::RoundParams;
use gonka_core::poc::mmr::{InclusionProof, Mmr};
use gonka_core::poc::nonce::NonceAssignment;
use gonka_core::poc::params::ValidationParams;
use gonka_core::poc::sampling::{sample_leaf_indices, sampling_seed};
use gonka_core::poc::validate::{check_proofs, Commitment};
use gonka_core::poc::verdict::{Decision, Verdict};
use gonka_core::{PoCVerifier, VerificationRequest};
use serde::{Deserialize, Serialize};

use super::store::StoredArtifact;

/// The validation outcome of one ML node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeOutcome {
    /// Registry id.
    pub node_id: String,
    /// `node_num` (the PoC node id).
    pub node_num: u32,
    /// Model the node computed with.
    pub model: String,
    /// Committed leaves (distinct nonces received).
    pub count: u64,
    /// Hex MMR root of the commitment (`None` without artifacts).
    pub root_hash: Option<String>,
    /// Sampled leaves judged.
    pub n_total: usize,
    /// Sampled leaves that mismatched.
    pub n_mismatch: usize,
    /// One-sided binomial p-value.
    pub p_value: f64,
    /// `valid`, `fraud`, `inconclusive` or `no_artifacts`.
    pub outcome: &'static str,
    /// Weight: `count` when valid, else 0.
    pub weight: u64,
}

/// One node taking part in a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Registry id.
    pub node_id: String,
    /// `node_num`.
    pub node_num: u32,
    /// Model the node computes with (its first registered model).
    pub model: String,
    /// Management API base URL.
    pub mgmt_url: String,
}

/// Everything one validation run needs.
#[derive(Debug, Clone)]
pub struct ValidationInput {
    /// The round's seed and settings.
    pub round: RoundParams,
    /// PoC stage height.
    pub block_height: u64,
    /// `node_count` of the round.
    pub node_count: u32,
    /// The nodes of the round.
    pub members: Vec<Member>,
    /// Thresholds and sample size.
    pub params: ValidationParams,
    /// The validator's key (seeds the leaf sample).
    pub validator_key: String,
}

/// Validates every member (see the module docs); the recomputation goes through `verifier`.
///
/// # Errors
/// A message when the verifier fails (e.g. cannot run the member's model).
pub async fn validate_round(
    verifier: &dyn PoCVerifier,
    input: &ValidationInput,
    artifacts: &[StoredArtifact],
) -> Result<Vec<NodeOutcome>, String> {
    input.params.check().map_err(|e| e.to_string())?;
    let mut by_node: BTreeMap<u32, Vec<&StoredArtifact>> = BTreeMap::new();
    for a in artifacts {
        by_node.entry(a.node_num).or_default().push(a);
    }
    let mut out = Vec::with_capacity(input.members.len());
    for member in &input.members {
        let leaves = by_node.remove(&member.node_num).unwrap_or_default();
        if leaves.is_empty() {
            out.push(NodeOutcome {
                node_id: member.node_id.clone(),
                node_num: member.node_num,
                model: member.model.clone(),
                count: 0,
                root_hash: None,
                n_total: 0,
                n_mismatch: 0,
                p_value: 1.0,
                outcome: "no_artifacts",
                weight: 0,
            });
            continue;
        }
        let mut mmr = Mmr::new();
        for leaf in &leaves {
            mmr.append(leaf.nonce, &leaf.vector)
                .map_err(|e| format!("commitment of node {}: {e}", member.node_id))?;
        }
        let count = mmr.len();
        let root = mmr
            .root()
            .ok_or_else(|| format!("node {}: empty commitment", member.node_id))?;
        let seed = sampling_seed(
            &input.validator_key,
            &input.round.block_hash,
            input.block_height,
            &member.model,
        ) ^ u64::from(member.node_num);
        let requested = sample_leaf_indices(seed, count, input.params.sample_size);
        let proofs = requested
            .iter()
            .filter_map(|&i| {
                let leaf = leaves.get(i as usize)?;
                InclusionProof::build(&mmr, i, count, leaf.nonce, leaf.vector.clone()).ok()
            })
            .collect::<Vec<_>>();
        let check = check_proofs(&Commitment { root, count }, &requested, &proofs);
        // Leaves whose nonce belongs to another node (or outside the nonce space) mismatch.
        let owner = NonceAssignment::new(member.node_num, input.node_count.max(1), 0, 1).ok();
        let (own, foreign): (Vec<_>, Vec<_>) = check
            .proven
            .iter()
            .cloned()
            .partition(|a| owner.is_some_and(|o| o.contains(a.nonce)));
        let mut extra: Vec<_> = check.failures.iter().map(|(_, n, _)| *n).collect();
        extra.extend(foreign.iter().map(|a| Some(a.nonce)));
        let verdict = if own.is_empty() {
            Verdict::from_counts(&input.params, 0, 0, 0, Vec::new())
        } else {
            let request = VerificationRequest {
                model: member.model.clone(),
                round: input.round.clone(),
                block_height: input.block_height,
                node_id: member.node_num,
                artifacts: own,
                params: input.params,
            };
            verifier
                .verify(&request)
                .await
                .map_err(|e| format!("recomputing node {}: {e}", member.node_id))?
        }
        .with_extra_mismatches(&input.params, &extra);
        let outcome = match verdict.decision {
            Decision::Valid => "valid",
            Decision::Fraud => "fraud",
            _ => "inconclusive",
        };
        out.push(NodeOutcome {
            node_id: member.node_id.clone(),
            node_num: member.node_num,
            model: member.model.clone(),
            count: u64::from(count),
            root_hash: Some(root.iter().map(|b| format!("{b:02x}")).collect()),
            n_total: verdict.n_total,
            n_mismatch: verdict.n_mismatch,
            p_value: verdict.p_value,
            outcome,
            weight: if verdict.decision == Decision::Valid {
                u64::from(count)
            } else {
                0
            },
        });
    }
    Ok(out)
}
