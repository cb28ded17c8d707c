//! The seed-string templates of docs/poc-v2.md §1.5.
//!
//! Strings are used byte for byte: the block hash and public key are inserted exactly as given
//! (case matters — a regular PoC stage uses the 64 upper-case hex digits CometBFT prints, a
//! confirmation PoC lower-case hex; the public key is the lower-case hex of the 33-byte
//! compressed secp256k1 key). Nonces are written as decimal integers.

use super::Nonce;

/// Seed string of the input embeddings of nonce `n`: `{bh}_{pk}_nonce{n}` (no `_` before `n`).
pub fn input(block_hash: &str, public_key: &str, nonce: Nonce) -> String {
    format!("{block_hash}_{public_key}_nonce{nonce}")
}

/// Seed string of the Householder vector of decoder layer `layer` (0-based):
/// `{bh}_layer_{i}_householder` (no public key, no nonce: shared by the whole round).
pub fn layer_householder(block_hash: &str, layer: usize) -> String {
    format!("{block_hash}_layer_{layer}_householder")
}

/// Seed string of the coordinate pick of nonce `n` keeping `k` coordinates:
/// `{bh}_{pk}_nonce_{n}_pick_{k}`.
pub fn pick(block_hash: &str, public_key: &str, nonce: Nonce, k: usize) -> String {
    format!("{block_hash}_{public_key}_nonce_{nonce}_pick_{k}")
}

/// Seed string of Haar reflection `j` (0-based, `j < k − 1`) of nonce `n` in dimension `k`:
/// `{bh}_{pk}_nonce_{n}_haar_hh_{k}_{j}`.
pub fn haar(block_hash: &str, public_key: &str, nonce: Nonce, k: usize, j: usize) -> String {
    format!("{block_hash}_{public_key}_nonce_{nonce}_haar_hh_{k}_{j}")
}

/// Seed string of the pseudo token ids of nonce `n` (token-id-routed MoE models only):
/// `{bh}_{pk}_nonce{n}_input_ids`.
pub fn input_ids(block_hash: &str, public_key: &str, nonce: Nonce) -> String {
    format!("{block_hash}_{public_key}_nonce{nonce}_input_ids")
}

/// Seed string of the (PoC v1) target vector: `{bh}_{pk}_target`. Unused by the v2 flow.
pub fn target(block_hash: &str, public_key: &str) -> String {
    format!("{block_hash}_{public_key}_target")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poc::rng::seed_from_str;

    const BH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";

    fn pk() -> String {
        format!("02{}", "11".repeat(32))
    }

    #[test]
    fn templates_render_exactly_as_the_spec_writes_them() {
        assert_eq!(input("B", "P", 7), "B_P_nonce7");
        assert_eq!(layer_householder("B", 3), "B_layer_3_householder");
        assert_eq!(pick("B", "P", 7, 12), "B_P_nonce_7_pick_12");
        assert_eq!(haar("B", "P", 7, 12, 0), "B_P_nonce_7_haar_hh_12_0");
        assert_eq!(input_ids("B", "P", 7), "B_P_nonce7_input_ids");
        assert_eq!(target("B", "P"), "B_P_target");
    }

    #[test]
    fn templates_give_the_spec_seeds() {
        let pk = pk();
        assert_eq!(seed_from_str(&input(BH, &pk, 0)), 888_438_895);
        assert_eq!(seed_from_str(&layer_householder(BH, 0)), 242_248_368);
        assert_eq!(seed_from_str(&pick(BH, &pk, 0, 12)), 961_696_344);
        assert_eq!(seed_from_str(&haar(BH, &pk, 0, 12, 0)), 4_073_434_872);
    }

    #[test]
    fn block_hash_case_changes_the_seed() {
        let pk = pk();
        assert_ne!(
            seed_from_str(&input(BH, &pk, 0)),
            seed_from_str(&input(&BH.to_lowercase(), &pk, 0))
        );
    }
}
