//! [`PocSettings`]: how an ML node computes and delivers PoC artifacts.

use std::sync::Arc;
use std::time::Duration;

use super::compute::{PocCompute, TinyModelCompute};

/// PoC behaviour of an ML node. `Default` follows upstream's callback timing (5 s batches,
/// retries from 1 s doubling to 30 s, 10 attempts) over the CPU [`TinyModelCompute`] backend.
#[derive(Debug, Clone)]
pub struct PocSettings {
    /// The compute backend.
    pub compute: Arc<dyn PocCompute>,
    /// Time between two artifact callbacks (upstream `POC_CALLBACK_INTERVAL_SEC`, 5 s).
    pub callback_interval: Duration,
    /// Timeout of one callback POST (10 s).
    pub callback_timeout: Duration,
    /// First pause after a failed callback; doubles up to `retry_max` (1 s).
    pub retry_initial: Duration,
    /// Longest pause between retries (30 s).
    pub retry_max: Duration,
    /// Attempts per payload before it is dropped (10).
    pub max_attempts: u32,
    /// Artifacts buffered at most; the oldest are dropped beyond (1,000,000).
    pub buffer_capacity: usize,
}

impl Default for PocSettings {
    fn default() -> Self {
        Self {
            compute: Arc::new(TinyModelCompute::default()),
            callback_interval: Duration::from_secs(5),
            callback_timeout: Duration::from_secs(10),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            max_attempts: 10,
            buffer_capacity: 1_000_000,
        }
    }
}
