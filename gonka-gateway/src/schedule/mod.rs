//! Routing policies: one [`Scheduler`] implementation per file and a factory from `--policy`.

mod least_busy;
mod power_of_two;
mod round_robin;
mod scored;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use gonka_core::Scheduler;

pub use least_busy::{LeastBusy, LoadKey};
pub use power_of_two::PowerOfTwo;
pub use round_robin::RoundRobin;
pub use scored::{ScoreKey, ScoreWeights, Scored};

/// The routing policy chosen with `--policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Lowest `in_flight / max_concurrent` wins (Gonka's default).
    #[default]
    LeastBusy,
    /// Eligible nodes in turn.
    RoundRobin,
    /// Two random eligible nodes, the less loaded wins.
    PowerOfTwo,
    /// Weighted score over load, queue depth, latency, error rate and availability (seed 003).
    Scored,
}

impl Policy {
    /// Every policy, in `--help` order.
    pub const ALL: [Policy; 4] = [
        Policy::LeastBusy,
        Policy::RoundRobin,
        Policy::PowerOfTwo,
        Policy::Scored,
    ];

    /// The `--policy` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::LeastBusy => "least-busy",
            Policy::RoundRobin => "round-robin",
            Policy::PowerOfTwo => "power-of-two",
            Policy::Scored => "scored",
        }
    }

    /// A new scheduler implementing this policy.
    pub fn scheduler(self) -> Arc<dyn Scheduler> {
        match self {
            Policy::LeastBusy => Arc::new(LeastBusy),
            Policy::RoundRobin => Arc::new(RoundRobin::default()),
            Policy::PowerOfTwo => Arc::new(PowerOfTwo::default()),
            Policy::Scored => Arc::new(Scored::default()),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown policy {s:?}; expected one of least-busy, round-robin, power-of-two, scored"
                )
            })
    }
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
