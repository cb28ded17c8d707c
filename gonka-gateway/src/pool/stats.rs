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
        let mut copy = self.latencies_ms;
        let (p50, p75, p95) = percentiles(&mut copy[..self.len]);
        (self.p50_ms, self.p75_ms, self.p95_ms) = (p50, p75, p95);
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

/// The values at the p50, p75 and p95 ranks of `window` sorted (ranks `(n-1)/2`, `(n-1)*3/4`,
/// `(n-1)*95/100`), reordering it: three selections, each on the part below the previous rank,
/// instead of a full sort. `window` must not be empty.
fn percentiles(window: &mut [f32]) -> (f32, f32, f32) {
    let last = window.len() - 1;
    let (i50, i75, i95) = (last / 2, last * 3 / 4, last * 95 / 100);
    let (below95, p95, _) = window.select_nth_unstable_by(i95, f32::total_cmp);
    let p95 = *p95;
    // `below95` holds the i95 smallest values: the lower ranks are found among them, and after
    // the p75 selection, below index i75.
    let p75 = if i75 == i95 {
        p95
    } else {
        *below95.select_nth_unstable_by(i75, f32::total_cmp).1
    };
    let p50 = if i50 == i75 {
        p75
    } else {
        *below95[..i75].select_nth_unstable_by(i50, f32::total_cmp).1
    };
    (p50, p75, p95)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn percentiles_are_those_of_the_sorted_window(
            window in prop::collection::vec(-1e6f32..1e6, 1..=WINDOW),
        ) {
            let mut sorted = window.clone();
            sorted.sort_unstable_by(f32::total_cmp);
            let n = sorted.len() - 1;
            let want = (sorted[n / 2], sorted[n * 3 / 4], sorted[n * 95 / 100]);
            let mut w = window;
            prop_assert_eq!(percentiles(&mut w), want);
        }
    }

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
