//! Where the current epoch comes from: the chain in production, a local clock in devnet.

use std::sync::atomic::{AtomicU64, Ordering};

/// The source of the current epoch number. The admin API stamps `admin_state.epoch` with it and
/// the gateway uses it to decide whether a disabled node may still serve.
pub trait EpochSource: Send + Sync + std::fmt::Debug {
    /// The current epoch (≥ 0).
    fn current_epoch(&self) -> u64;
}

/// An epoch set by hand: for tests, embedding, and deployments without a chain.
#[derive(Debug, Default)]
pub struct ManualEpoch(AtomicU64);

impl ManualEpoch {
    /// Starts at `epoch`.
    pub fn new(epoch: u64) -> Self {
        Self(AtomicU64::new(epoch))
    }

    /// Sets the current epoch.
    pub fn set(&self, epoch: u64) {
        self.0.store(epoch, Ordering::SeqCst);
    }

    /// Moves to the next epoch and returns it.
    pub fn advance(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

impl EpochSource for ManualEpoch {
    fn current_epoch(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_epoch_advances() {
        let e = ManualEpoch::new(3);
        assert_eq!(e.current_epoch(), 3);
        assert_eq!(e.advance(), 4);
        e.set(10);
        assert_eq!(e.current_epoch(), 10);
    }
}
