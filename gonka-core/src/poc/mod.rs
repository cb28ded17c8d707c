//! Proof-of-Compute v2: pure math and formats (seeded normals, Householder reflections,
//! encoding, Merkle mountain range commitments, sampled validation). No I/O.

pub mod rng;
