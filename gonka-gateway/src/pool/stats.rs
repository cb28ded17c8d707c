//! Per-node observed statistics: latency percentiles over a window, error rate, availability.

const WINDOW: usize = 64;
const ALPHA: f32 = 0.1;
/// Samples between two percentile refreshes once the window is full.
pub const REFRESH_EVERY: u32 = 8;

/// Latency window and exponentially weighted rates. Fixed size; recording never allocates.
#[derive(Debug, Clone)]
pub struct NodeStats {
    latencies_ms: [f32; WINDOW],
    len: usize,
    next: usize,
    since_refresh: u32,
    /// Median of the window in ms (0 when empty).
    pub p50_ms: f32,
    /// 75th percentile of the window in ms (0 when empty).
    pub p75_ms: f32,
    /// 95th percentile of the window in ms (0 when empty).
    pub p95_ms: f32,
    /// EWMA of request failures in [0, 1].
    pub error_rate: f32,
    /// EWMA of passed health checks in [0, 1].
    pub availability: f32,
}

impl Default for NodeStats {
    fn default() -> Self {
        Self {
            latencies_ms: [0.0; WINDOW],
            len: 0,
            next: 0,
            since_refresh: 0,
            p50_ms: 0.0,
            p75_ms: 0.0,
            p95_ms: 0.0,
            error_rate: 0.0,
            availability: 1.0,
        }
    }
}

impl NodeStats {
    /// Records a successful request of `latency_ms`. Percentiles are recomputed every
    /// `REFRESH_EVERY` samples (and for the first ones), keeping the per-request cost small.
    pub fn record_success(&mut self, latency_ms: f32) {
        self.latencies_ms[self.next] = latency_ms;
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
        self.error_rate *= 1.0 - ALPHA;
        self.since_refresh += 1;
        if self.len < WINDOW || self.since_refresh >= REFRESH_EVERY {
            self.since_refresh = 0;
            self.refresh_percentiles();
        }
    }

    fn refresh_percentiles(&mut self) {
        let mut sorted = self.latencies_ms;
        let window = &mut sorted[..self.len];
        window.sort_unstable_by(f32::total_cmp);
        self.p50_ms = window[(self.len - 1) / 2];
        self.p75_ms = window[((self.len - 1) * 3) / 4];
        self.p95_ms = window[((self.len - 1) * 95) / 100];
    }

    /// Records a failed request.
    pub fn record_failure(&mut self) {
        self.error_rate = self.error_rate * (1.0 - ALPHA) + ALPHA;
    }

    /// Records a health check result.
    pub fn record_health(&mut self, passed: bool) {
        let x = if passed { 1.0 } else { 0.0 };
        self.availability = self.availability * (1.0 - ALPHA) + ALPHA * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_window() {
        let mut s = NodeStats::default();
        for ms in 1..=103 {
            s.record_success(ms as f32);
        }
        // Refreshed at every sample up to 63, then every 8th: 71, 79, ..., 103. The window then
        // holds the last 64 samples, 40..=103.
        assert_eq!(s.p50_ms, 71.0);
        assert_eq!(s.p75_ms, 87.0);
        assert_eq!(s.p95_ms, 99.0);
    }

    #[test]
    fn error_rate_and_availability_move_toward_observations() {
        let mut s = NodeStats::default();
        for _ in 0..20 {
            s.record_failure();
            s.record_health(false);
        }
        assert!(s.error_rate > 0.8);
        assert!(s.availability < 0.2);
        for _ in 0..20 {
            s.record_success(10.0);
            s.record_health(true);
        }
        assert!(s.error_rate < 0.2);
        assert!(s.availability > 0.8);
    }
}
