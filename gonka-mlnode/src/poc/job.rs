//! One `/generate` job: the checks a request must pass before anything is queued, and the
//! computation itself (artifacts in `batch_size` chunks, or the verdict on the prover's
//! artifacts), run on a blocking thread by the queue's worker or by a `wait: true` request.

use std::collections::BTreeSet;

use gonka_core::poc::compute::{Artifact, RoundParams};
use gonka_core::poc::encoding::K_DIM;
use gonka_core::poc::error::PocError;
use gonka_core::poc::params::ValidationParams;
use gonka_core::poc::Nonce;

use super::compute::PreparedRound;
use super::wire::{
    Encoding, GenerateRequest, GeneratedOutcome, JobOutcome, ValidationOutcome, MAX_GENERATE_NONCES,
};

/// The most nonces one compute call may take.
pub(crate) const MAX_BATCH_SIZE: usize = 4096;

/// What a job computes.
#[derive(Debug)]
pub(crate) enum Work {
    /// The artifacts of the nonces.
    Generate,
    /// The verdict on the prover's artifacts for the nonces.
    Validate {
        /// The prover's artifacts, one per nonce.
        artifacts: Vec<Artifact>,
        /// Thresholds.
        params: ValidationParams,
    },
}

/// Where a job's result goes and what its callback carries besides the result.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    /// Callback base (`{url}/validated`, `{url}/generated`), if any.
    pub url: Option<String>,
    /// The round's block hash.
    pub block_hash: String,
    /// The round's block height.
    pub block_height: u64,
    /// The prover's public key.
    pub public_key: String,
    /// `node_id` of the request.
    pub node_id: u32,
}

/// A checked request, ready to prepare and run.
#[derive(Debug)]
pub(crate) struct JobSpec {
    /// The nonces, in request order.
    pub nonces: Vec<Nonce>,
    /// Nonces per compute call.
    pub batch_size: usize,
    /// What to compute.
    pub work: Work,
    /// Callback data.
    pub meta: Meta,
    /// Model and round, for [`super::compute::PocCompute::prepare`].
    pub model: String,
    /// The round parameters.
    pub round: RoundParams,
}

impl JobSpec {
    /// Checks `req` and turns it into a job.
    ///
    /// # Errors
    /// A message naming the first bad field: empty `block_hash`/`public_key`, no nonces or more
    /// than [`MAX_GENERATE_NONCES`], `batch_size` outside 1..=[`MAX_BATCH_SIZE`], `k_dim` ≠ 12,
    /// a `url` that is not http(s), invalid `stat_test` thresholds, or `validation.artifacts`
    /// whose nonces are not exactly `nonces` (one artifact per nonce).
    pub(crate) fn from_request(req: GenerateRequest) -> Result<Self, String> {
        if req.block_hash.is_empty() || req.public_key.is_empty() {
            return Err("block_hash and public_key must not be empty".into());
        }
        if req.nonces.is_empty() || req.nonces.len() > MAX_GENERATE_NONCES {
            return Err(format!(
                "nonces must hold 1 to {MAX_GENERATE_NONCES} values, got {}",
                req.nonces.len()
            ));
        }
        if req.batch_size == 0 || req.batch_size > MAX_BATCH_SIZE {
            return Err(format!(
                "batch_size must be between 1 and {MAX_BATCH_SIZE}, got {}",
                req.batch_size
            ));
        }
        if req.params.k_dim != K_DIM {
            return Err(format!(
                "params.k_dim must be {K_DIM}, got {}",
                req.params.k_dim
            ));
        }
        if let Some(url) = &req.url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err(format!("url must be an http(s) URL, got {url:?}")),
            }
        }
        let work = match req.validation {
            None => Work::Generate,
            Some(v) => {
                check_artifact_nonces(&req.nonces, &v.artifacts)?;
                let params = req.stat_test.unwrap_or_default();
                params
                    .check()
                    .map_err(|e| format!("stat_test: {}", plain(e)))?;
                Work::Validate {
                    artifacts: v.artifacts,
                    params,
                }
            }
        };
        Ok(Self {
            round: RoundParams {
                block_hash: req.block_hash.clone(),
                public_key: req.public_key.clone(),
                seq_len: req.params.seq_len,
                stronger_rng: req.poc_stronger_rng,
            },
            model: req.params.model,
            nonces: req.nonces,
            batch_size: req.batch_size,
            work,
            meta: Meta {
                url: req.url,
                block_hash: req.block_hash,
                block_height: req.block_height,
                public_key: req.public_key,
                node_id: req.node_id,
            },
        })
    }
}

/// The message of a [`PocError`] without its variant's prefix for invalid parameters.
pub(crate) fn plain(e: PocError) -> String {
    match e {
        PocError::InvalidParams(m) => m,
        other => other.to_string(),
    }
}

/// Upstream refuses validation artifacts whose nonce set is not `nonces`; we also refuse two
/// artifacts for one nonce. The message names the offending nonces (at most 10 of each kind).
fn check_artifact_nonces(nonces: &[Nonce], artifacts: &[Artifact]) -> Result<(), String> {
    let asked: BTreeSet<Nonce> = nonces.iter().copied().collect();
    let mut given = BTreeSet::new();
    let mut twice = BTreeSet::new();
    for a in artifacts {
        if !given.insert(a.nonce) {
            twice.insert(a.nonce);
        }
    }
    let extra: Vec<_> = given.difference(&asked).take(10).collect();
    let missing: Vec<_> = asked.difference(&given).take(10).collect();
    let mut problems = Vec::new();
    if !extra.is_empty() {
        problems.push(format!("nonces not in `nonces`: {extra:?}"));
    }
    if !missing.is_empty() {
        problems.push(format!("nonces without an artifact: {missing:?}"));
    }
    if !twice.is_empty() {
        let twice: Vec<_> = twice.iter().take(10).collect();
        problems.push(format!("nonces with more than one artifact: {twice:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "validation.artifacts must hold exactly one artifact per nonce of `nonces` ({})",
            problems.join("; ")
        ))
    }
}

/// Runs `work` over `nonces` on `prepared`. `cancelled` is asked between chunks; a cancelled
/// job fails with `Job cancelled`.
///
/// # Errors
/// The backend's failure, or the cancellation, as a message.
pub(crate) fn run(
    prepared: &dyn PreparedRound,
    nonces: &[Nonce],
    batch_size: usize,
    work: &Work,
    cancelled: &dyn Fn() -> bool,
) -> Result<JobOutcome, String> {
    let cancel = || Err("Job cancelled".to_owned());
    match work {
        Work::Generate => {
            let mut artifacts = Vec::with_capacity(nonces.len());
            for chunk in nonces.chunks(batch_size.max(1)) {
                if cancelled() {
                    return cancel();
                }
                artifacts.extend(prepared.compute(chunk).map_err(plain)?);
            }
            Ok(JobOutcome::Generated(GeneratedOutcome {
                artifacts,
                encoding: Encoding::default(),
            }))
        }
        Work::Validate { artifacts, params } => {
            if cancelled() {
                return cancel();
            }
            let verdict = prepared.validate(artifacts, params).map_err(plain)?;
            if cancelled() {
                return cancel();
            }
            Ok(JobOutcome::Validated(ValidationOutcome {
                n_total: verdict.n_total,
                n_mismatch: verdict.n_mismatch,
                fraud_detected: verdict.fraud_detected(),
                mismatch_nonces: verdict.mismatch_nonces,
                p_value: verdict.p_value,
            }))
        }
    }
}

/// A fresh random id in the form upstream's engine uses (a version-4 UUID).
pub(crate) fn new_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn art(nonce: Nonce) -> Artifact {
        Artifact {
            nonce,
            vector_b64: String::new(),
        }
    }

    #[test]
    fn artifact_nonces_must_be_the_requested_ones() {
        assert!(check_artifact_nonces(&[1, 2], &[art(2), art(1)]).is_ok());
        let e = check_artifact_nonces(&[1, 2], &[art(1), art(9)]).unwrap_err();
        assert!(e.contains("not in `nonces`: [9]"), "{e}");
        assert!(e.contains("without an artifact: [2]"), "{e}");
        let e = check_artifact_nonces(&[1], &[art(1), art(1)]).unwrap_err();
        assert!(e.contains("more than one artifact: [1]"), "{e}");
    }

    #[test]
    fn ids_look_like_uuid_v4_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_eq!(a.matches('-').count(), 4);
    }
}
