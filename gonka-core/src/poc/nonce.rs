//! Nonce assignment across ML nodes and their engine groups (docs/poc-v2.md §3).
//!
//! Node `node_id` of `node_count` (the network node's `NodeNum`s; `node_count` = largest
//! NodeNum ever assigned + 1) fans out to `n_groups` healthy engine backends; backend `group_id`
//! (its index among the healthy backend ports, sorted) computes the sequence
//! `nonce(x) = node_id + group_id·node_count + x·(n_groups·node_count)` for `x = 0, 1, 2, …`.
//! Sequences of different nodes, and of different groups of one node, never overlap.

use super::error::PocError;
use super::{Nonce, MAX_NONCE};

/// The default number of nonces per engine call.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// Which residue class of nonces one engine backend computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NonceAssignment {
    /// The ML node's number (`NodeNum`), `< node_count`.
    pub node_id: u32,
    /// Largest node number ever assigned + 1, the same for every node.
    pub node_count: u32,
    /// The backend's index among the node's healthy backends, `< n_groups`.
    pub group_id: u32,
    /// The number of healthy backends of the node.
    pub n_groups: u32,
}

impl NonceAssignment {
    /// Validates and builds an assignment.
    ///
    /// # Errors
    /// [`PocError::InvalidParams`] unless `node_id < node_count` and `group_id < n_groups`.
    pub fn new(
        node_id: u32,
        node_count: u32,
        group_id: u32,
        n_groups: u32,
    ) -> Result<Self, PocError> {
        if node_id >= node_count {
            return Err(PocError::InvalidParams(format!(
                "node_id {node_id} must be below node_count {node_count}"
            )));
        }
        if group_id >= n_groups {
            return Err(PocError::InvalidParams(format!(
                "group_id {group_id} must be below n_groups {n_groups}"
            )));
        }
        Ok(Self {
            node_id,
            node_count,
            group_id,
            n_groups,
        })
    }

    /// The distance between consecutive nonces: `n_groups · node_count`.
    pub fn stride(&self) -> u64 {
        u64::from(self.n_groups) * u64::from(self.node_count)
    }

    /// The first nonce: `node_id + group_id · node_count`.
    pub fn offset(&self) -> u64 {
        u64::from(self.node_id) + u64::from(self.group_id) * u64::from(self.node_count)
    }

    /// The `x`-th nonce of this backend, or `None` past [`MAX_NONCE`].
    pub fn nonce(&self, x: u64) -> Option<Nonce> {
        let n = x.checked_mul(self.stride())?.checked_add(self.offset())?;
        Nonce::try_from(n).ok().filter(|&n| n <= MAX_NONCE)
    }

    /// Whether `nonce` belongs to this backend's sequence.
    pub fn contains(&self, nonce: Nonce) -> bool {
        let n = u64::from(nonce);
        n >= self.offset() && (n - self.offset()).is_multiple_of(self.stride())
    }

    /// All nonces of this backend in order, ending at [`MAX_NONCE`].
    pub fn iter(&self) -> impl Iterator<Item = Nonce> + '_ {
        self.iter_from(0)
    }

    /// The nonces from position `x` on (to resume after `x` nonces were computed).
    pub fn iter_from(&self, x: u64) -> impl Iterator<Item = Nonce> + '_ {
        (x..=u64::from(MAX_NONCE)).map_while(move |x| self.nonce(x))
    }

    /// The nonces of engine call `batch` (0-based) with `batch_size` nonces per call; shorter or
    /// empty at the end of the nonce space.
    pub fn batch(&self, batch: u64, batch_size: usize) -> Vec<Nonce> {
        let start = batch.saturating_mul(batch_size as u64);
        self.iter_from(start).take(batch_size).collect()
    }
}

/// The `(node_id, group_id)` that computes `nonce` under `node_count` nodes and `n_groups`
/// groups, or `None` when either count is 0.
pub fn owner_of(nonce: Nonce, node_count: u32, n_groups: u32) -> Option<(u32, u32)> {
    if node_count == 0 || n_groups == 0 {
        return None;
    }
    Some((nonce % node_count, (nonce / node_count) % n_groups))
}

/// Group ids of backends by port: each healthy port's index in ascending port order.
pub fn group_ids_by_port(healthy_ports: &[u16]) -> Vec<(u16, u32)> {
    let mut ports = healthy_ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    ports.into_iter().zip(0u32..).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn sequence_follows_the_formula() {
        let a = NonceAssignment::new(2, 5, 1, 3).unwrap();
        // 2 + 1·5 + x·15
        assert_eq!(a.iter().take(4).collect::<Vec<_>>(), [7, 22, 37, 52]);
        assert_eq!(a.batch(1, 2), [37, 52]);
        assert!(a.contains(37) && !a.contains(38) && !a.contains(2));
    }

    #[test]
    fn nodes_and_groups_partition_the_nonces() {
        let (node_count, n_groups) = (4u32, 3u32);
        let mut seen = HashSet::new();
        for node in 0..node_count {
            for group in 0..n_groups {
                let a = NonceAssignment::new(node, node_count, group, n_groups).unwrap();
                for nonce in a.iter().take(50) {
                    assert!(seen.insert(nonce), "nonce {nonce} assigned twice");
                    assert_eq!(owner_of(nonce, node_count, n_groups), Some((node, group)));
                }
            }
        }
        // 12 backends × 50 nonces cover exactly 0..600.
        assert_eq!(seen, (0..600).collect());
    }

    #[test]
    fn invalid_assignments_are_rejected_with_the_field() {
        let e = NonceAssignment::new(5, 5, 0, 1).unwrap_err();
        assert!(e.to_string().contains("node_id 5"), "{e}");
        let e = NonceAssignment::new(0, 1, 1, 1).unwrap_err();
        assert!(e.to_string().contains("group_id 1"), "{e}");
        assert!(NonceAssignment::new(0, 0, 0, 1).is_err());
        assert_eq!(owner_of(3, 0, 1), None);
    }

    #[test]
    fn sequence_stops_at_the_int32_limit() {
        let a = NonceAssignment::new(0, 1, 0, 1).unwrap();
        assert_eq!(a.nonce(u64::from(MAX_NONCE)), Some(MAX_NONCE));
        assert_eq!(a.nonce(u64::from(MAX_NONCE) + 1), None);
        assert_eq!(a.iter_from(u64::from(MAX_NONCE) - 1).count(), 2);
        assert!(a.batch(u64::MAX, 32).is_empty());
    }

    #[test]
    fn groups_are_indices_of_sorted_ports() {
        assert_eq!(
            group_ids_by_port(&[5002, 5000, 5001]),
            [(5000, 0), (5001, 1), (5002, 2)]
        );
    }

    proptest! {
        #[test]
        fn every_nonce_of_an_assignment_is_owned_by_it(
            node_count in 1u32..50, n_groups in 1u32..8, node_seed in any::<u32>(),
            group_seed in any::<u32>(), x in 0u64..10_000,
        ) {
            let a = NonceAssignment::new(node_seed % node_count, node_count, group_seed % n_groups, n_groups).unwrap();
            let nonce = a.nonce(x).unwrap();
            prop_assert!(a.contains(nonce));
            prop_assert_eq!(owner_of(nonce, node_count, n_groups), Some((a.node_id, a.group_id)));
        }
    }
}
