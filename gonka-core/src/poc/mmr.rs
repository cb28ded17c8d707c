//! The artifact commitment of docs/poc-v2.md §5.1: a Merkle mountain range (MMR) over the artifacts in
//! arrival order, with inclusion proofs in the wire format of `POST /v1/poc/proofs`.
//!
//! * leaf = `SHA256(0x00 ‖ LE32 nonce ‖ vector_bytes)`, inner node = `SHA256(0x01 ‖ left ‖ right)`;
//! * nodes stored in standard post-order; the mountains of `n` leaves are the binary powers of
//!   `n`, largest (oldest) first;
//! * root = peaks bagged right to left: `acc = last; acc = H(peak ‖ acc)` for the others from the
//!   second-last down to the first; one peak is the root itself; no root for zero leaves;
//! * proof = siblings from the leaf up to its peak (bottom-up), then the other peaks left → right.
//!
//! Layout, bagging and proof order were cross-checked against upstream's
//! `decentralized-api/poc/artifacts/mmr.go` (public gonka code): proofs built here verify there
//! and vice versa. One difference: [`verify_inclusion`] requires the exact proof length, where
//! upstream ignores extra trailing hashes.
//!
//! Because the MMR is append-only, the state after the first `count` leaves is a prefix of the
//! node list: [`Mmr::root_at`] and [`Mmr::proof`] answer for any committed `count`, which is
//! what the proof endpoint needs (the chain holds an older, flushed count).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Nonce;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The most leaves an MMR may hold (2³⁰ − 1, as upstream).
pub const MAX_LEAVES: u32 = (1 << 30) - 1;

/// Why an MMR operation or an inclusion proof failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// A commitment over zero leaves has no root and proves nothing.
    #[error("commitment count must be at least 1")]
    EmptyCommitment,
    /// The count is above what the MMR holds (or above [`MAX_LEAVES`]).
    #[error("count {count} exceeds the {available} leaves available")]
    CountTooLarge {
        /// The requested count.
        count: u32,
        /// The leaves available.
        available: u32,
    },
    /// The leaf index is not below the commitment's count.
    #[error("leaf index {index} is out of range for count {count}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u32,
        /// The commitment's count.
        count: u32,
    },
    /// The proof has the wrong number of hashes for this index and count.
    #[error("proof has {actual} hashes, expected {expected}")]
    WrongProofLength {
        /// Hashes a proof for this index and count must have.
        expected: usize,
        /// Hashes received.
        actual: usize,
    },
    /// The proof does not lead to the committed root.
    #[error("proof does not match the committed root")]
    RootMismatch,
}

/// The hash of a leaf: `SHA256(0x00 ‖ LE32 nonce ‖ vector_bytes)`.
pub fn leaf_hash(nonce: Nonce, vector_bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(nonce.to_le_bytes());
    h.update(vector_bytes);
    h.finalize().into()
}

/// The hash of an inner node (and of a bagging step): `SHA256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Bags peaks (left to right) into a root; `None` for no peaks.
pub fn bag_peaks(peaks: &[Hash]) -> Option<Hash> {
    let (last, rest) = peaks.split_last()?;
    Some(
        rest.iter()
            .rev()
            .fold(*last, |acc, peak| node_hash(peak, &acc)),
    )
}

/// Number of MMR nodes for `leaves` leaves: `2n − popcount(n)`.
pub fn node_count(leaves: u32) -> usize {
    2 * leaves as usize - leaves.count_ones() as usize
}

/// The mountains of `count` leaves, left to right: `(first leaf index, height)`.
pub fn mountains(count: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(count.count_ones() as usize);
    let mut first = 0u32;
    for height in (0..32).rev() {
        if count >> height & 1 == 1 {
            out.push((first, height));
            first += 1 << height;
        }
    }
    out
}

/// An append-only Merkle mountain range of artifact leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mmr {
    nodes: Vec<Hash>,
    leaves: u32,
}

impl Mmr {
    /// An empty MMR.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves appended.
    pub fn len(&self) -> u32 {
        self.leaves
    }

    /// Whether no leaf was appended.
    pub fn is_empty(&self) -> bool {
        self.leaves == 0
    }

    /// Appends the artifact `(nonce, vector_bytes)`; returns its leaf index.
    ///
    /// # Errors
    /// [`ProofError::CountTooLarge`] when the MMR already holds [`MAX_LEAVES`] leaves.
    pub fn append(&mut self, nonce: Nonce, vector_bytes: &[u8]) -> Result<u32, ProofError> {
        self.append_leaf_hash(leaf_hash(nonce, vector_bytes))
    }

    /// Appends an already hashed leaf; returns its leaf index.
    ///
    /// # Errors
    /// [`ProofError::CountTooLarge`] when the MMR already holds [`MAX_LEAVES`] leaves.
    pub fn append_leaf_hash(&mut self, leaf: Hash) -> Result<u32, ProofError> {
        if self.leaves >= MAX_LEAVES {
            return Err(ProofError::CountTooLarge {
                count: self.leaves.saturating_add(1),
                available: MAX_LEAVES,
            });
        }
        let index = self.leaves;
        self.nodes.push(leaf);
        let mut current = leaf;
        // Merge trailing_zeros(i + 1) times with the peak 2^(h+1) − 1 positions back.
        for height in 0..(index + 1).trailing_zeros() {
            let left = self.nodes[self.nodes.len() - (1usize << (height + 1))];
            current = node_hash(&left, &current);
            self.nodes.push(current);
        }
        self.leaves += 1;
        Ok(index)
    }

    /// The root over all leaves, `None` when empty.
    pub fn root(&self) -> Option<Hash> {
        self.root_at(self.leaves).ok()
    }

    /// The root the MMR had when it held its first `count` leaves.
    ///
    /// # Errors
    /// [`ProofError::EmptyCommitment`] for 0, [`ProofError::CountTooLarge`] above [`Mmr::len`].
    pub fn root_at(&self, count: u32) -> Result<Hash, ProofError> {
        self.check_count(count)?;
        let peaks: Vec<Hash> = self
            .peak_positions(count)
            .into_iter()
            .map(|p| self.nodes[p])
            .collect();
        bag_peaks(&peaks).ok_or(ProofError::EmptyCommitment)
    }

    /// The inclusion proof of leaf `index` against the commitment of the first `count` leaves:
    /// siblings bottom-up to the leaf's peak, then the other peaks left to right.
    ///
    /// # Errors
    /// As [`Mmr::root_at`], and [`ProofError::IndexOutOfRange`] when `index ≥ count`.
    pub fn proof(&self, index: u32, count: u32) -> Result<Vec<Hash>, ProofError> {
        self.check_count(count)?;
        if index >= count {
            return Err(ProofError::IndexOutOfRange { index, count });
        }
        let mut base = 0usize;
        let mut own = 0usize;
        let mut siblings = Vec::new();
        for (m, (first, height)) in mountains(count).into_iter().enumerate() {
            let size = (1usize << (height + 1)) - 1;
            if index >= first && index < first + (1 << height) {
                own = m;
                siblings = self.mountain_path(base, height, index - first);
            }
            base += size;
        }
        let peaks = self.peak_positions(count);
        let mut proof = siblings;
        proof.extend(
            peaks
                .iter()
                .enumerate()
                .filter(|&(m, _)| m != own)
                .map(|(_, &p)| self.nodes[p]),
        );
        Ok(proof)
    }

    /// Siblings (bottom-up) of local leaf `local` in the perfect tree of `height` at `base`.
    fn mountain_path(&self, mut base: usize, height: u32, mut local: u32) -> Vec<Hash> {
        let mut siblings = Vec::with_capacity(height as usize);
        for h in (1..=height).rev() {
            let half = (1usize << h) - 1; // nodes in each child subtree
            let left_root = base + half - 1;
            let right_root = base + 2 * half - 1;
            if local < (1 << (h - 1)) {
                siblings.push(self.nodes[right_root]);
            } else {
                siblings.push(self.nodes[left_root]);
                base += half;
                local -= 1 << (h - 1);
            }
        }
        siblings.reverse();
        siblings
    }

    fn peak_positions(&self, count: u32) -> Vec<usize> {
        let mut base = 0usize;
        mountains(count)
            .into_iter()
            .map(|(_, height)| {
                base += (1usize << (height + 1)) - 1;
                base - 1
            })
            .collect()
    }

    fn check_count(&self, count: u32) -> Result<(), ProofError> {
        if count == 0 {
            return Err(ProofError::EmptyCommitment);
        }
        if count > self.leaves {
            return Err(ProofError::CountTooLarge {
                count,
                available: self.leaves,
            });
        }
        Ok(())
    }
}

/// Checks that `leaf` sits at `index` in the MMR of `count` leaves whose root is `root`.
///
/// # Errors
/// [`ProofError::EmptyCommitment`], [`ProofError::CountTooLarge`] (above [`MAX_LEAVES`]),
/// [`ProofError::IndexOutOfRange`], [`ProofError::WrongProofLength`] or
/// [`ProofError::RootMismatch`]. Never panics, whatever the input.
pub fn verify_inclusion(
    root: &Hash,
    count: u32,
    index: u32,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if count == 0 {
        return Err(ProofError::EmptyCommitment);
    }
    if count > MAX_LEAVES {
        return Err(ProofError::CountTooLarge {
            count,
            available: MAX_LEAVES,
        });
    }
    if index >= count {
        return Err(ProofError::IndexOutOfRange { index, count });
    }
    let mountains = mountains(count);
    let (own, &(first, height)) = mountains
        .iter()
        .enumerate()
        .find(|(_, &(first, height))| index >= first && index < first + (1 << height))
        .ok_or(ProofError::IndexOutOfRange { index, count })?;
    let expected = height as usize + mountains.len() - 1;
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    let (path, other_peaks) = proof.split_at(height as usize);
    let mut local = index - first;
    let mut current = *leaf;
    for sibling in path {
        current = if local.is_multiple_of(2) {
            node_hash(&current, sibling)
        } else {
            node_hash(sibling, &current)
        };
        local /= 2;
    }
    let mut peaks = other_peaks.to_vec();
    peaks.insert(own, current);
    match bag_peaks(&peaks) {
        Some(computed) if computed == *root => Ok(()),
        _ => Err(ProofError::RootMismatch),
    }
}

/// One proven artifact as `POST /v1/poc/proofs` returns it: JSON
/// `{"leaf_index", "nonce_value", "vector_bytes": base64, "proof": [base64 32 bytes, …]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// The leaf's 0-based position in arrival order.
    pub leaf_index: u32,
    /// The nonce stored in the leaf.
    pub nonce_value: Nonce,
    /// The raw artifact vector bytes (24 for a well-formed artifact).
    #[serde(with = "super::serde_b64::bytes")]
    pub vector_bytes: Vec<u8>,
    /// Siblings bottom-up, then the other peaks left to right.
    #[serde(with = "super::serde_b64::hashes")]
    pub proof: Vec<Hash>,
}

impl InclusionProof {
    /// Builds the proof of leaf `index` of `mmr` against its first `count` leaves, given the
    /// leaf's content (the MMR stores only hashes).
    ///
    /// # Errors
    /// As [`Mmr::proof`].
    pub fn build(
        mmr: &Mmr,
        index: u32,
        count: u32,
        nonce: Nonce,
        vector_bytes: Vec<u8>,
    ) -> Result<Self, ProofError> {
        Ok(Self {
            leaf_index: index,
            nonce_value: nonce,
            vector_bytes,
            proof: mmr.proof(index, count)?,
        })
    }

    /// Verifies this proof against the commitment `(root, count)`.
    ///
    /// # Errors
    /// As [`verify_inclusion`].
    pub fn verify(&self, root: &Hash, count: u32) -> Result<(), ProofError> {
        verify_inclusion(
            root,
            count,
            self.leaf_index,
            &leaf_hash(self.nonce_value, &self.vector_bytes),
            &self.proof,
        )
    }
}

#[cfg(test)]
#[path = "mmr_tests.rs"]
mod tests;
