//! The PoC driver: follows the [`super::PhaseClock`] and acts on each phase change.
//!
//! - **generate** (epoch e): every *enabled* node becomes a member of the round (disabled nodes
//!   are skipped and contribute no weight); its intended status becomes POC (the pool stops
//!   routing to it) and it gets `pow/init/generate` with its `node_num` and the stage's
//!   parameters from the epoch source ([`gonka_core::PocEpochSource::stage_params`]: seed block,
//!   public key, the model's `seq_len` and `k_dim`, RNG variant). A node whose model the source
//!   lets take no part is skipped, as upstream's broker does.
//! - **wind-down**: members get `pow/stop` and go back to intended INFERENCE (the broker brings
//!   them back); late artifacts are still accepted.
//! - **validate**: the artifacts are validated and the epoch's participants computed.
//!
//! A driver that starts in the middle of a generate phase starts that round late.

use std::sync::Arc;

use futures::future::join_all;
use gonka_core::poc::wire::InitGenerateRequest;
use gonka_core::{NodeStatus, PocStatus, StatusUpdate};

use super::phases::{Phase, PhaseInfo};
use super::service::{EpochResult, PocService, Round};
use super::validation::{validate_round, Member, ValidationInput};
use crate::mlnode_client::MlNodeClient;

/// Runs until aborted.
pub async fn run_driver(service: Arc<PocService>) {
    let mut last: Option<(u64, Phase)> = None;
    resume_round(&service).await;
    loop {
        let now = service.config.clock.now();
        let key = (now.epoch, now.phase);
        if last != Some(key) {
            tracing::info!(epoch = now.epoch, phase = ?now.phase, "PoC phase");
            match now.phase {
                Phase::Generate => start_round(&service, &now).await,
                Phase::WindDown => stop_round(&service, now.epoch).await,
                Phase::Validate => {
                    // Stop a round whose wind-down this driver did not see (a short wind-down,
                    // or a gateway restarted after it).
                    if last.is_none_or(|(e, p)| e == now.epoch && p == Phase::Generate) {
                        stop_round(&service, now.epoch).await;
                    }
                    validate(&service, now.epoch).await;
                }
                Phase::Inference => {}
            }
            last = Some(key);
        }
        tokio::time::sleep(service.config.tick).await;
    }
}

/// Loads the current epoch's round from the store (a restarted gateway goes on receiving,
/// stopping and validating the round it started before).
async fn resume_round(service: &PocService) {
    let epoch = service.config.clock.now().epoch;
    match service.config.store.load_round(epoch).await {
        Ok(Some(json)) => match serde_json::from_str::<Round>(&json) {
            Ok(round) => {
                tracing::info!(epoch, members = round.members.len(), "PoC round resumed");
                service.set_round(epoch, round);
            }
            Err(e) => tracing::warn!(epoch, error = %e, "stored PoC round unreadable"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(epoch, error = %e, "cannot load the PoC round"),
    }
}

async fn start_round(service: &Arc<PocService>, info: &PhaseInfo) {
    let records = match service.registry.list().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "PoC round not started: cannot list nodes");
            return;
        }
    };
    let node_count = records
        .iter()
        .map(|r| r.node.node_num)
        .max()
        .map_or(1, |m| {
            u32::try_from(m.saturating_add(1)).unwrap_or(u32::MAX)
        });
    let params = service.stage_params(info);
    let mut members = std::collections::BTreeMap::new();
    for r in &records {
        if !r.state.admin_state.enabled {
            tracing::info!(node = %r.node.id, "disabled node skipped in PoC");
            continue;
        }
        let (Ok(num), Some(model)) = (u32::try_from(r.node.node_num), r.node.models.keys().next())
        else {
            continue;
        };
        if params.model(model).is_none() {
            tracing::info!(node = %r.node.id, model = %model, "no PoC parameters for the node's model; skipped");
            continue;
        }
        members.insert(
            num,
            Member {
                node_id: r.node.id.clone(),
                node_num: num,
                model: model.clone(),
                mgmt_url: r.node.poc_url(),
            },
        );
    }
    let round = Round {
        info: info.clone(),
        node_count,
        members: members.clone(),
        params: Some(params.clone()),
    };
    match serde_json::to_string(&round) {
        Ok(json) => {
            if let Err(e) = service.config.store.save_round(info.epoch, &json).await {
                tracing::warn!(error = %e, "cannot store the PoC round; a restart will not resume it");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode the PoC round"),
    }
    service.set_round(info.epoch, round);
    let calls = members.values().filter_map(|m| {
        let service = Arc::clone(service);
        let request = InitGenerateRequest {
            block_hash: params.block_hash.clone(),
            block_height: params.block_height,
            public_key: params.public_key.clone(),
            node_id: m.node_num,
            node_count,
            batch_size: service.config.batch_size,
            params: params.init_params(&m.model)?,
            url: service.callback_url(&m.model),
            poc_stronger_rng: params.stronger_rng,
        };
        let m = m.clone();
        Some(async move {
            set_intended(&service, &m.node_id, NodeStatus::Poc, PocStatus::Generating).await;
            let r = node(&service, &m.mgmt_url).pow_init_generate(&request).await;
            match r {
                Ok(_) => tracing::info!(node = %m.node_id, node_num = m.node_num, "PoC generation started"),
                Err(e) => tracing::warn!(node = %m.node_id, error = %e, "pow/init/generate failed"),
            }
        })
    });
    join_all(calls).await;
    let keep = service.config.keep_epochs.max(1);
    if info.epoch > keep {
        if let Err(e) = service
            .config
            .store
            .prune_before(info.epoch + 1 - keep)
            .await
        {
            tracing::warn!(error = %e, "cannot prune old PoC artifacts");
        }
    }
}

async fn stop_round(service: &Arc<PocService>, epoch: u64) {
    let Some(round) = service.round(epoch) else {
        return;
    };
    let calls = round.members.values().map(|m| {
        let service = Arc::clone(service);
        let m = m.clone();
        async move {
            if let Err(e) = node(&service, &m.mgmt_url).pow_stop().await {
                tracing::warn!(node = %m.node_id, error = %e, "pow/stop failed");
            }
            set_intended(&service, &m.node_id, NodeStatus::Inference, PocStatus::Idle).await;
        }
    });
    join_all(calls).await;
}

async fn validate(service: &Arc<PocService>, epoch: u64) {
    let Some(round) = service.round(epoch) else {
        return;
    };
    // A callback admitted just before the phase changed may still be writing: let it land.
    tokio::time::sleep(service.config.tick).await;
    let artifacts = match service.config.store.artifacts(epoch).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "PoC validation skipped: cannot read artifacts");
            return;
        }
    };
    let params = round
        .params
        .clone()
        .unwrap_or_else(|| service.stage_params(&round.info));
    // The members are this participant's nodes: one key, one seed; the first member's model
    // gives `seq_len` (a round without members validates nothing).
    let round_params = round
        .members
        .values()
        .find_map(|m| params.round_params(&m.model))
        .unwrap_or_else(|| gonka_core::poc::compute::RoundParams {
            block_hash: params.block_hash.clone(),
            public_key: params.public_key.clone(),
            seq_len: gonka_core::poc::compute::DEFAULT_SEQ_LEN,
            stronger_rng: params.stronger_rng,
        });
    let input = ValidationInput {
        round: round_params,
        block_height: round.info.poc_start_block_height,
        node_count: round.node_count,
        members: round.members.values().cloned().collect(),
        params: round
            .members
            .values()
            .next()
            .map_or(service.config.validation, |m| {
                params.stat_test(&m.model, service.config.validation)
            }),
        validator_key: service.config.public_key.clone(),
    };
    let verifier = Arc::clone(&service.config.verifier);
    match validate_round(verifier.as_ref(), &input, &artifacts).await {
        Ok(outcomes) => {
            for o in &outcomes {
                tracing::info!(epoch, node = %o.node_id, count = o.count, outcome = o.outcome, n_mismatch = o.n_mismatch, n_total = o.n_total, weight = o.weight, "PoC node validated");
            }
            service.set_result(
                epoch,
                EpochResult {
                    info: round.info.clone(),
                    outcomes,
                },
            );
        }
        Err(e) => tracing::error!(epoch, error = %e, "PoC validation failed"),
    }
}

async fn set_intended(service: &PocService, id: &str, status: NodeStatus, poc: PocStatus) {
    let update = StatusUpdate {
        intended_status: Some(status),
        poc_intended_status: Some(poc),
        ..StatusUpdate::default()
    };
    if let Err(e) = service.registry.update_status(id, update).await {
        tracing::warn!(node = %id, error = %e, "cannot record the intended PoC status");
    }
}

/// The management client of the node at `base`, over the service's HTTP client and timeout.
fn node(service: &PocService, base: &str) -> MlNodeClient {
    MlNodeClient::with_http_client(base, service.http.clone())
        .with_timeout(service.config.call_timeout)
}
