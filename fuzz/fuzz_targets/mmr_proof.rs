//! Fuzz target: MMR inclusion proofs (`gonka_core::poc::mmr`).
//!
//! Builds an MMR of 1..=64 leaves from the input, then checks: the proof of every chosen leaf
//! verifies against `(root_at(count), count)`; the same proof fails for a different leaf, a
//! flipped proof byte, or a truncated proof; and `verify_inclusion` over arbitrary roots, counts,
//! indexes and proofs taken from the input never panics.
#![no_main]

use gonka_core::poc::mmr::{leaf_hash, verify_inclusion, Hash, Mmr};
use libfuzzer_sys::fuzz_target;

fn hash_from(bytes: &[u8]) -> Hash {
    let mut h = [0u8; 32];
    for (i, b) in bytes.iter().take(32).enumerate() {
        h[i] = *b;
    }
    h
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let leaves = u32::from(data[0] % 64) + 1;
    let count = u32::from(data[1]) % leaves + 1;
    let index = u32::from(data[2]) % count;
    let body = &data[3..];

    let mut mmr = Mmr::new();
    for i in 0..leaves {
        let vector: Vec<u8> = body.iter().skip(i as usize).take(4).copied().collect();
        mmr.append(i, &vector).expect("append below the leaf limit");
    }
    let root = mmr.root_at(count).expect("root of a prefix");
    let proof = mmr.proof(index, count).expect("proof of a leaf in the prefix");
    let vector: Vec<u8> = body.iter().skip(index as usize).take(4).copied().collect();
    let leaf = leaf_hash(index, &vector);
    assert!(verify_inclusion(&root, count, index, &leaf, &proof).is_ok(), "honest proof rejected");

    let other = leaf_hash(index.wrapping_add(1_000_000), &vector);
    assert!(verify_inclusion(&root, count, index, &other, &proof).is_err(), "wrong leaf accepted");
    if let Some(first) = proof.first() {
        let mut bad = proof.clone();
        let mut h = *first;
        h[usize::from(data[2]) % 32] ^= 1;
        bad[0] = h;
        assert!(verify_inclusion(&root, count, index, &leaf, &bad).is_err(), "tampered proof accepted");
        assert!(
            verify_inclusion(&root, count, index, &leaf, &proof[1..]).is_err(),
            "truncated proof accepted"
        );
    }

    // Arbitrary commitments and proofs from the raw input: no panic.
    let arbitrary: Vec<Hash> = body.chunks(32).map(hash_from).collect();
    let raw_count = u32::from_le_bytes([data[0], data[1], data[2], 0]);
    let _ = verify_inclusion(&hash_from(body), raw_count, u32::from(data[2]), &hash_from(data), &arbitrary);
});
