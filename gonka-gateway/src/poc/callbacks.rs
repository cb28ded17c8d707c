//! [`ValidationCallbacks`]: the verifications the gateway asked its ML nodes for and now awaits
//! on `POST /v2/poc-batches/{model}/validated` (upstream's ML node queues a `/generate` with
//! `validation` and posts the verdict there), and where those callbacks go.
//!
//! A callback is accepted only when it names a pending verification — model (from the path),
//! block hash, height, the prover's public key and `node_id` as sent, and the queued job's
//! `request_id` once the ML node answered with one — and every nonce it reports is one that was
//! asked for. Anything else is refused with [`CallbackRejection`] and changes nothing: the
//! pending verification keeps waiting for the right answer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use gonka_core::poc::wire::{GenerateQueued, ValidatedPayload};
use gonka_core::poc::Nonce;
use gonka_core::NodeRegistry;
use tokio::sync::oneshot;

/// What identifies a pending verification (upstream's network node keys a `/validated` on the
/// model, height and public key; the gateway also sends the prover's node number, which the ML
/// node echoes as `node_id`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PendingKey {
    /// The model, as in the callback path.
    pub model: String,
    /// The round's seed block hash.
    pub block_hash: String,
    /// The PoC stage height.
    pub block_height: u64,
    /// The prover's public key.
    pub public_key: String,
    /// The `node_id` sent (the prover's node number).
    pub node_id: u32,
}

impl PendingKey {
    /// The key a callback for `model` names.
    pub fn of(model: &str, payload: &ValidatedPayload) -> Self {
        Self {
            model: model.to_owned(),
            block_hash: payload.block_hash.clone(),
            block_height: payload.block_height,
            public_key: payload.public_key.clone(),
            node_id: payload.node_id,
        }
    }
}

impl std::fmt::Display for PendingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "model {} block {} height {} public_key {} node_id {}",
            self.model, self.block_hash, self.block_height, self.public_key, self.node_id
        )
    }
}

/// Why a `/validated` callback was refused; [`CallbackRejection::status`] is its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRejection {
    /// No verification with this key is pending (never asked, already answered, or given up).
    #[error("no pending verification for {0}")]
    NotPending(Box<PendingKey>),
    /// The callback's `request_id` is not the job the ML node queued for this verification.
    #[error("request_id {got:?} is not the pending job {expected:?} for {key}")]
    WrongRequest {
        /// The pending verification.
        key: Box<PendingKey>,
        /// The queued job's id.
        expected: String,
        /// The callback's id.
        got: String,
    },
    /// The callback reports nonces that were not asked for, or counts that do not add up.
    #[error("{problem} (for {key})")]
    UnknownNonces {
        /// The pending verification.
        key: Box<PendingKey>,
        /// What is wrong.
        problem: String,
    },
}

impl CallbackRejection {
    /// 404 when nothing is pending, 409 for another job, 422 for unknown nonces or counts.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotPending(_) => 404,
            Self::WrongRequest { .. } => 409,
            Self::UnknownNonces { .. } => 422,
        }
    }
}

#[derive(Debug)]
struct Pending {
    nonces: BTreeSet<Nonce>,
    request_id: Option<GenerateQueued>,
    tx: Option<oneshot::Sender<ValidatedPayload>>,
}

/// Where verifications are posted and who serves them, bound when the PoC service starts.
#[derive(Debug, Clone)]
pub struct CallbackBinding {
    /// The PoC listener's base URL (`--poc-callback-url` or `http://<--poc-listen>`).
    pub base: String,
    /// The registry the validator's own ML nodes are picked from.
    pub registry: Arc<dyn NodeRegistry>,
}

/// The pending verifications of one gateway (see the module docs). Shared by the verifier that
/// registers them and the PoC listener that delivers the callbacks.
#[derive(Debug, Default)]
pub struct ValidationCallbacks {
    binding: OnceLock<CallbackBinding>,
    pending: Mutex<BTreeMap<PendingKey, Pending>>,
    delivered: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A registered verification; dropping it removes the entry (a late callback then gets 404).
#[derive(Debug)]
pub struct PendingGuard {
    callbacks: Arc<ValidationCallbacks>,
    key: PendingKey,
    rx: oneshot::Receiver<ValidatedPayload>,
}

impl PendingGuard {
    /// Records the job id the ML node answered with; only callbacks naming it are accepted.
    pub fn set_queued(&self, queued: GenerateQueued) {
        if let Some(p) = lock(&self.callbacks.pending).get_mut(&self.key) {
            if !queued.request_id.is_empty() {
                p.request_id = Some(queued);
            }
        }
    }

    /// Waits for the accepted callback (`None` when the sender went away).
    pub async fn wait(&mut self) -> Option<ValidatedPayload> {
        (&mut self.rx).await.ok()
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        lock(&self.callbacks.pending).remove(&self.key);
    }
}

impl ValidationCallbacks {
    /// An empty, unbound table.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Binds the callback base URL and registry (the first binding wins: one gateway).
    pub fn bind(&self, binding: CallbackBinding) {
        if self.binding.set(binding).is_err() {
            tracing::debug!("validation callbacks already bound; keeping the first binding");
        }
    }

    /// The binding, once the PoC service started.
    pub fn binding(&self) -> Option<&CallbackBinding> {
        self.binding.get()
    }

    /// Registers a verification of `nonces` under `key`.
    ///
    /// # Errors
    /// A message when a verification with the same key is already pending.
    pub fn register(
        self: &Arc<Self>,
        key: PendingKey,
        nonces: impl IntoIterator<Item = Nonce>,
    ) -> Result<PendingGuard, String> {
        let (tx, rx) = oneshot::channel();
        let mut pending = lock(&self.pending);
        if pending.contains_key(&key) {
            return Err(format!("a verification for {key} is already pending"));
        }
        pending.insert(
            key.clone(),
            Pending {
                nonces: nonces.into_iter().collect(),
                request_id: None,
                tx: Some(tx),
            },
        );
        Ok(PendingGuard {
            callbacks: Arc::clone(self),
            key,
            rx,
        })
    }

    /// Number of verifications now pending.
    pub fn pending_count(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Number of callbacks accepted so far.
    pub fn delivered_count(&self) -> u64 {
        *lock(&self.delivered)
    }

    /// Hands `payload` for `model` to its pending verification.
    ///
    /// # Errors
    /// [`CallbackRejection`] when it matches none or reports nonces that were not asked for;
    /// nothing changes then.
    pub fn deliver(&self, model: &str, payload: ValidatedPayload) -> Result<(), CallbackRejection> {
        let key = PendingKey::of(model, &payload);
        let mut pending = lock(&self.pending);
        let Some(entry) = pending.get_mut(&key) else {
            return Err(CallbackRejection::NotPending(Box::new(key)));
        };
        if let Some(queued) = &entry.request_id {
            if !queued.matches(&payload.request_id) {
                return Err(CallbackRejection::WrongRequest {
                    key: Box::new(key),
                    expected: queued.request_id.clone(),
                    got: payload.request_id,
                });
            }
        }
        if let Some(problem) = nonce_problem(&entry.nonces, &payload) {
            return Err(CallbackRejection::UnknownNonces {
                key: Box::new(key),
                problem,
            });
        }
        let Some(tx) = entry.tx.take() else {
            return Err(CallbackRejection::NotPending(Box::new(key)));
        };
        pending.remove(&key);
        drop(pending);
        // The verifier may have given up this instant; the callback was still well-formed.
        let _ = tx.send(payload);
        *lock(&self.delivered) += 1;
        Ok(())
    }
}

/// What makes `payload` inconsistent with the nonces asked for, if anything.
pub fn nonce_problem(asked: &BTreeSet<Nonce>, payload: &ValidatedPayload) -> Option<String> {
    let unknown: Vec<Nonce> = payload
        .mismatch_nonces
        .iter()
        .copied()
        .filter(|n| !asked.contains(n))
        .collect();
    if !unknown.is_empty() {
        return Some(format!(
            "unknown nonces {unknown:?}: mismatch_nonces must be among the {} nonces asked for",
            asked.len()
        ));
    }
    if payload.n_total > asked.len() {
        return Some(format!(
            "n_total {} exceeds the {} nonces asked for",
            payload.n_total,
            asked.len()
        ));
    }
    if payload.n_mismatch > payload.n_total || payload.mismatch_nonces.len() != payload.n_mismatch {
        return Some(format!(
            "n_mismatch {} does not fit n_total {} and {} mismatch_nonces",
            payload.n_mismatch,
            payload.n_total,
            payload.mismatch_nonces.len()
        ));
    }
    if !(0.0..=1.0).contains(&payload.p_value) {
        return Some(format!("p_value {} is not in [0, 1]", payload.p_value));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PendingKey {
        PendingKey {
            model: "m".into(),
            block_hash: "h".into(),
            block_height: 7,
            public_key: "02ab".into(),
            node_id: 1,
        }
    }

    fn payload(mismatch: Vec<Nonce>) -> ValidatedPayload {
        ValidatedPayload {
            request_id: "abc".into(),
            block_hash: "h".into(),
            block_height: 7,
            public_key: "02ab".into(),
            node_id: 1,
            n_total: 3,
            n_mismatch: mismatch.len(),
            mismatch_nonces: mismatch,
            p_value: 0.5,
            fraud_detected: false,
        }
    }

    #[tokio::test]
    async fn only_a_callback_matching_key_job_and_nonces_completes_the_verification() {
        let callbacks = ValidationCallbacks::new();
        let mut guard = callbacks.register(key(), [3, 17, 42]).unwrap();
        assert!(callbacks.register(key(), [1]).is_err(), "one per key");
        guard.set_queued(GenerateQueued {
            status: "queued".into(),
            request_id: "5001:abc".into(),
            queued_count: 3,
        });
        let other = ValidatedPayload {
            node_id: 2,
            ..payload(vec![])
        };
        assert_eq!(callbacks.deliver("m", other).unwrap_err().status(), 404);
        let stale = ValidatedPayload {
            request_id: "old".into(),
            ..payload(vec![])
        };
        assert_eq!(callbacks.deliver("m", stale).unwrap_err().status(), 409);
        let e = callbacks.deliver("m", payload(vec![5])).unwrap_err();
        assert_eq!(e.status(), 422);
        assert!(e.to_string().contains("unknown nonces [5]"), "{e}");
        assert_eq!(callbacks.pending_count(), 1, "refusals change nothing");
        callbacks.deliver("m", payload(vec![17])).unwrap();
        assert_eq!(guard.wait().await.unwrap().mismatch_nonces, vec![17]);
        assert_eq!(callbacks.pending_count(), 0);
        assert_eq!(callbacks.delivered_count(), 1);
        // Answered: a repeat is not pending any more.
        let again = callbacks.deliver("m", payload(vec![17])).unwrap_err();
        assert_eq!(again.status(), 404);
    }

    #[test]
    fn a_dropped_guard_leaves_nothing_pending() {
        let callbacks = ValidationCallbacks::new();
        drop(callbacks.register(key(), [1]).unwrap());
        assert_eq!(callbacks.pending_count(), 0);
        assert!(matches!(
            callbacks.deliver("m", payload(vec![])),
            Err(CallbackRejection::NotPending(_))
        ));
    }

    #[test]
    fn inconsistent_counts_are_named() {
        let asked: BTreeSet<Nonce> = [1, 2].into();
        let mut p = payload(vec![1]);
        assert!(nonce_problem(&asked, &p).unwrap().contains("n_total 3"));
        p.n_total = 2;
        assert_eq!(nonce_problem(&asked, &p), None);
        p.n_mismatch = 2;
        assert!(nonce_problem(&asked, &p).unwrap().contains("n_mismatch 2"));
        p.n_mismatch = 1;
        p.p_value = f64::NAN;
        assert!(nonce_problem(&asked, &p).unwrap().contains("p_value"));
    }
}
