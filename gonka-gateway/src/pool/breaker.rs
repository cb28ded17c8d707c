//! Per-node circuit breaker: opens after repeated proxy failures, closes on a passed health check.

/// Why a proxied request failed, as far as the breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The node could not be reached (connection refused/reset, DNS): opens the breaker at once.
    Connect,
    /// The node answered 5xx or broke the stream: counts toward the threshold.
    Server,
    /// The node did not answer in time: counts toward the threshold.
    Timeout,
}

/// Consecutive-failure breaker. Open means the node is not routed to until a health check passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Breaker {
    consecutive_failures: u32,
    open: bool,
}

impl Breaker {
    /// Whether the breaker is open (node out of routing).
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Records a failure; returns true when this failure opened the breaker.
    pub fn on_failure(&mut self, kind: FailureKind, threshold: u32) -> bool {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let trip = kind == FailureKind::Connect || self.consecutive_failures >= threshold.max(1);
        let opened = trip && !self.open;
        self.open |= trip;
        opened
    }

    /// Records a success: the failure streak ends.
    pub fn on_success(&mut self) {
        self.consecutive_failures = 0;
    }

    /// A health check passed: the breaker closes. Returns true when it was open.
    pub fn on_health_pass(&mut self) -> bool {
        let was_open = self.open;
        self.open = false;
        self.consecutive_failures = 0;
        was_open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_server_failures_and_closes_on_health_pass() {
        let mut b = Breaker::default();
        assert!(!b.on_failure(FailureKind::Server, 3));
        assert!(!b.on_failure(FailureKind::Server, 3));
        assert!(b.on_failure(FailureKind::Server, 3));
        assert!(b.is_open());
        assert!(b.on_health_pass());
        assert!(!b.is_open());
    }

    #[test]
    fn a_success_resets_the_streak() {
        let mut b = Breaker::default();
        b.on_failure(FailureKind::Server, 2);
        b.on_success();
        assert!(!b.on_failure(FailureKind::Server, 2));
        assert!(!b.is_open());
    }

    #[test]
    fn a_connect_error_opens_at_once() {
        let mut b = Breaker::default();
        assert!(b.on_failure(FailureKind::Connect, 3));
        assert!(b.is_open());
    }
}
