//! The built-in routing policies: one ordinary [`Scheduler`] implementation per file, and
//! [`scheduler_by_name`], which picks one by its `--policy` name. An embedder passes any
//! `Arc<dyn Scheduler>`, built-in or its own, to [`crate::Gateway::builder`].

mod least_busy;
mod model_aware;
mod model_aware_weights;
mod power_of_two;
mod round_robin;
mod scored;

use std::sync::Arc;

use gonka_core::Scheduler;

pub use least_busy::{LeastBusy, LoadKey};
pub use model_aware::{
    estimated_model_mb, ModelAware, ModelAwareIndex, ModelFacts, SIGNALS as MODEL_AWARE_SIGNALS,
};
pub use model_aware_weights::{BadWeight, ModelAwareWeights, WEIGHT_NAMES};
pub use power_of_two::PowerOfTwo;
pub use round_robin::RoundRobin;
pub use scored::{ScoreKey, ScoreWeights, Scored, SIGNALS as SCORED_SIGNALS};

/// The names of the built-in policies, in `--help` order: `least-busy` ([`LeastBusy`], the
/// default), `round-robin` ([`RoundRobin`]), `power-of-two` ([`PowerOfTwo`]), `scored`
/// ([`Scored`]) and `model-aware` ([`ModelAware`]).
pub const POLICIES: [&str; 5] = [
    "least-busy",
    "round-robin",
    "power-of-two",
    "scored",
    "model-aware",
];

/// A policy name that is none of [`POLICIES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown policy {name:?}; expected one of least-busy, round-robin, power-of-two, scored, model-aware"
)]
pub struct UnknownPolicy {
    /// The name asked for.
    pub name: String,
}

/// A new built-in scheduler by its `--policy` name (case-insensitive, surrounding blanks
/// ignored). Its [`Scheduler::name`] is the canonical spelling from [`POLICIES`].
///
/// # Errors
/// [`UnknownPolicy`] when `name` is none of [`POLICIES`].
pub fn scheduler_by_name(name: &str) -> Result<Arc<dyn Scheduler>, UnknownPolicy> {
    let wanted = name.trim().to_ascii_lowercase();
    Ok(match wanted.as_str() {
        "least-busy" => Arc::new(LeastBusy),
        "round-robin" => Arc::new(RoundRobin::default()),
        "power-of-two" => Arc::new(PowerOfTwo::default()),
        "scored" => Arc::new(Scored::default()),
        "model-aware" => Arc::new(ModelAware::default()),
        _ => {
            return Err(UnknownPolicy {
                name: name.to_owned(),
            })
        }
    })
}

/// Compares loads `a.in_flight / a.max_concurrent` and `b...` exactly, without floats.
/// `Less` means `a` is less loaded.
pub(crate) fn cmp_load(a: &gonka_core::NodeView, b: &gonka_core::NodeView) -> std::cmp::Ordering {
    let lhs = u64::from(a.in_flight) * u64::from(b.max_concurrent.max(1));
    let rhs = u64::from(b.in_flight) * u64::from(a.max_concurrent.max(1));
    lhs.cmp(&rhs)
}

#[cfg(test)]
mod tests;
