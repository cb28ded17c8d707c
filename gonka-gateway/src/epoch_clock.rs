//! [`ClockEpoch`]: a local epoch clock standing in for the chain (devnet, chain-less hosts).

use std::time::{Duration, Instant};

use gonka_core::EpochSource;

/// Epoch `start + elapsed / length`, counted from creation.
#[derive(Debug, Clone)]
pub struct ClockEpoch {
    start_epoch: u64,
    started: Instant,
    length: Duration,
}

impl ClockEpoch {
    /// An epoch clock starting at `start_epoch` now, advancing every `length` (at least 1 ms).
    pub fn new(start_epoch: u64, length: Duration) -> Self {
        Self {
            start_epoch,
            started: Instant::now(),
            length: length.max(Duration::from_millis(1)),
        }
    }
}

impl EpochSource for ClockEpoch {
    fn current_epoch(&self) -> u64 {
        let elapsed = self.started.elapsed().as_nanos() / self.length.as_nanos();
        self.start_epoch
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_given_epoch_and_advances_with_time() {
        let e = ClockEpoch::new(4, Duration::from_millis(20));
        let first = e.current_epoch();
        assert!(first >= 4);
        std::thread::sleep(Duration::from_millis(50));
        assert!(e.current_epoch() >= first + 2);
    }
}
