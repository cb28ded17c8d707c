//! Restart policy of supervised engines: exponential backoff, reset after healthy running, give
//! up after N consecutive failures.

use std::time::Duration;

/// When and how often a dead engine is restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay before the first restart.
    pub initial: Duration,
    /// Upper bound of the delay (it doubles after each failure).
    pub max: Duration,
    /// Running ready this long resets the failure count and the delay.
    pub reset_after: Duration,
    /// Consecutive failures after which the engine is marked failed for good.
    pub max_failures: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            reset_after: Duration::from_secs(300),
            max_failures: 5,
        }
    }
}

impl BackoffConfig {
    /// Delay before restart number `failures` (1-based): `initial * 2^(failures-1)`, capped.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        self.initial.saturating_mul(1u32 << exp).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_from_initial_and_stops_at_max() {
        let b = BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            ..BackoffConfig::default()
        };
        let delays: Vec<u64> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.delay(1000), Duration::from_secs(10));
    }
}
