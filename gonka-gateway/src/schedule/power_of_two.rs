//! `power-of-two`: two random eligible nodes, the less loaded wins.

use std::sync::atomic::{AtomicU64, Ordering};

use gonka_core::{NodeView, RequestInfo, Scheduler};

use super::cmp_load;

/// Power of two choices: draws two random positions, takes the first eligible node at or after
/// each (wrapping), and returns the less loaded of the two. Lock-free, allocation-free.
#[derive(Debug)]
pub struct PowerOfTwo {
    state: AtomicU64,
}

impl Default for PowerOfTwo {
    fn default() -> Self {
        Self::with_seed(0x9E37_79B9_7F4A_7C15)
    }
}

impl PowerOfTwo {
    /// A scheduler whose random sequence starts from `seed` (for reproducible tests).
    pub fn with_seed(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed | 1),
        }
    }

    fn random(&self) -> u64 {
        // splitmix64 over an atomic counter: good enough spread, no lock.
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn eligible_from(
        request: &RequestInfo,
        nodes: &[NodeView],
        start: usize,
        skip: Option<usize>,
    ) -> Option<usize> {
        let len = nodes.len();
        (0..len)
            .map(|k| (start + k) % len)
            .find(|&i| Some(i) != skip && nodes[i].eligible(request))
    }
}

impl Scheduler for PowerOfTwo {
    fn name(&self) -> &'static str {
        "power-of-two"
    }

    fn pick(&self, request: &RequestInfo, nodes: &[NodeView]) -> Option<usize> {
        let len = nodes.len();
        if len == 0 {
            return None;
        }
        let r = self.random();
        let first = Self::eligible_from(request, nodes, (r as usize) % len, None)?;
        let second_start = ((r >> 32) as usize) % len;
        match Self::eligible_from(request, nodes, second_start, Some(first)) {
            Some(second) if cmp_load(&nodes[second], &nodes[first]).is_lt() => Some(second),
            _ => Some(first),
        }
    }
}
