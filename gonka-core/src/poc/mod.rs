//! Proof-of-Compute v2: pure math and formats (seeded normals, Householder reflections,
//! encoding, Merkle mountain range commitments, sampled validation). No I/O.

pub mod compute;
pub mod encoding;
pub mod error;
pub mod mmr;
pub mod model_verifier;
pub mod nonce;
pub mod params;
pub mod rng;
pub mod sampling;
pub mod seeds;
pub mod stats;
pub mod transform;
pub mod validate;
pub mod verdict;

#[cfg(test)]
mod test_model;

/// A PoC nonce. Nonces are non-negative; the network node stores them as int32, so valid
/// nonces are at most [`MAX_NONCE`]. Commitments encode them as little-endian `u32`.
pub type Nonce = u32;

/// The largest nonce the network accepts (`i32::MAX`, the network node's storage type).
pub const MAX_NONCE: Nonce = i32::MAX as Nonce;
