use super::*;
use proptest::prelude::*;

/// Leaf `i` of the known-answer MMRs: nonce 3·i + 1, vector bytes `(i + t) mod 256`.
fn kat_leaf(i: u32) -> (Nonce, Vec<u8>) {
    (3 * i + 1, (0..24).map(|t| ((i + t) % 256) as u8).collect())
}

fn build(n: u32) -> Mmr {
    let mut mmr = Mmr::new();
    for i in 0..n {
        let (nonce, bytes) = kat_leaf(i);
        assert_eq!(mmr.append(nonce, &bytes).unwrap(), i);
    }
    mmr
}

fn hex(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn roots_match_the_independent_reference() {
    // From poc/kat/poc_v2_reference.py (`mmr_root`, which builds each mountain as a perfect
    // binary tree level by level and bags right to left — no post-order arithmetic shared).
    let expected = [
        (
            1,
            "84711444322157f00a88864714bc8944a5c34e6e1db9eb60bfd89b039b9667c7",
        ),
        (
            2,
            "d98183b79d238a46979405f98528558e45332ee45bf0841092c7805306354432",
        ),
        (
            3,
            "07f9e4d51ae0372d544650abcd09ff782158baea0cf372b7ce075f543e00abfd",
        ),
        (
            7,
            "e804468539257b167050757485f582b22083e41886f8cfa8b6ee74c2d5c29f47",
        ),
        (
            8,
            "bd6c3a7f7e002c0ec0d032502983ceb4d766628f34a7691aa83a79a16f745605",
        ),
        (
            11,
            "c8a8c091e22b94f1b179a5a95b9db9f0296e71d5c692a7b1f8f205f960ca51ce",
        ),
        (
            50,
            "75dc614823333b246a05a341bf04eca4ac864fb7b58295515ba4585bee90b5a3",
        ),
    ];
    let mmr = build(50);
    for (n, root) in expected {
        assert_eq!(hex(&build(n).root().unwrap()), root, "n = {n}");
        assert_eq!(hex(&mmr.root_at(n).unwrap()), root, "prefix n = {n}");
    }
}

#[test]
fn single_leaf_root_is_the_leaf_and_two_leaves_hash_together() {
    let (nonce, bytes) = kat_leaf(0);
    let leaf0 = leaf_hash(nonce, &bytes);
    assert_eq!(build(1).root(), Some(leaf0));
    let (nonce1, bytes1) = kat_leaf(1);
    assert_eq!(
        build(2).root(),
        Some(node_hash(&leaf0, &leaf_hash(nonce1, &bytes1)))
    );
    // Three leaves: peaks [H(l0,l1), l2] bagged as H(peak0 ‖ l2).
    let (nonce2, bytes2) = kat_leaf(2);
    let p0 = node_hash(&leaf0, &leaf_hash(nonce1, &bytes1));
    assert_eq!(
        build(3).root(),
        Some(node_hash(&p0, &leaf_hash(nonce2, &bytes2)))
    );
}

#[test]
fn leaf_hash_prefixes_and_little_endian_nonce() {
    let mut data = vec![0x00];
    data.extend_from_slice(&0x0102_0304u32.to_le_bytes());
    data.extend_from_slice(&[9; 24]);
    let expected: Hash = Sha256::digest(&data).into();
    assert_eq!(leaf_hash(0x0102_0304, &[9; 24]), expected);
}

#[test]
fn node_count_is_two_n_minus_popcount() {
    for n in 1..=64u32 {
        let mmr = build(n);
        assert_eq!(mmr.nodes.len(), node_count(n), "n = {n}");
    }
}

#[test]
fn empty_mmr_has_no_root_and_no_proofs() {
    let mmr = Mmr::new();
    assert!(mmr.is_empty());
    assert_eq!(mmr.root(), None);
    assert_eq!(mmr.root_at(0), Err(ProofError::EmptyCommitment));
    assert_eq!(mmr.proof(0, 0), Err(ProofError::EmptyCommitment));
    assert_eq!(
        verify_inclusion(&[0; 32], 0, 0, &[0; 32], &[]),
        Err(ProofError::EmptyCommitment)
    );
}

#[test]
fn every_leaf_proves_for_every_size_up_to_50() {
    let mmr = build(50);
    for count in 1..=50 {
        let root = mmr.root_at(count).unwrap();
        for index in 0..count {
            let (nonce, bytes) = kat_leaf(index);
            let proof = InclusionProof::build(&mmr, index, count, nonce, bytes).unwrap();
            assert_eq!(
                proof.verify(&root, count),
                Ok(()),
                "count {count} index {index}"
            );
            // Proof length: mountain height plus the other peaks.
            let (_, height) = mountains(count)
                .into_iter()
                .find(|&(first, h)| index >= first && index < first + (1 << h))
                .unwrap();
            assert_eq!(
                proof.proof.len(),
                height as usize + count.count_ones() as usize - 1
            );
        }
    }
}

#[test]
fn proof_request_errors_name_the_problem() {
    let mmr = build(5);
    assert_eq!(
        mmr.proof(5, 5),
        Err(ProofError::IndexOutOfRange { index: 5, count: 5 })
    );
    assert_eq!(
        mmr.proof(0, 6),
        Err(ProofError::CountTooLarge {
            count: 6,
            available: 5
        })
    );
    let root = mmr.root().unwrap();
    let leaf = leaf_hash(1, &kat_leaf(0).1);
    assert_eq!(
        verify_inclusion(&root, 5, 0, &leaf, &[]),
        Err(ProofError::WrongProofLength {
            expected: 3,
            actual: 0
        })
    );
    assert_eq!(
        verify_inclusion(&root, u32::MAX, 0, &leaf, &[]),
        Err(ProofError::CountTooLarge {
            count: u32::MAX,
            available: MAX_LEAVES
        })
    );
}

#[test]
fn proof_json_matches_the_wire_shape_and_round_trips() {
    let mmr = build(3);
    let (nonce, bytes) = kat_leaf(2);
    let proof = InclusionProof::build(&mmr, 2, 3, nonce, bytes).unwrap();
    let json = serde_json::to_value(&proof).unwrap();
    assert_eq!(json["leaf_index"], 2);
    assert_eq!(json["nonce_value"], 7);
    assert_eq!(json["vector_bytes"].as_str().unwrap().len(), 32);
    assert_eq!(json["proof"].as_array().unwrap().len(), 1);
    assert_eq!(json["proof"][0].as_str().unwrap().len(), 44);
    let back: InclusionProof = serde_json::from_value(json).unwrap();
    assert_eq!(back, proof);
}

#[test]
fn proof_json_with_a_short_hash_is_rejected() {
    let bad = r#"{"leaf_index":0,"nonce_value":1,"vector_bytes":"AAAA","proof":["AAAA"]}"#;
    let err = serde_json::from_str::<InclusionProof>(bad).unwrap_err();
    assert!(err.to_string().contains("expected 32"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tampered_leaf_wrong_index_or_wrong_root_fail(
        count in 1u32..=50,
        index_seed in any::<u32>(),
        other_seed in any::<u32>(),
        flip in 0usize..24,
    ) {
        let mmr = build(count);
        let root = mmr.root().unwrap();
        let index = index_seed % count;
        let (nonce, bytes) = kat_leaf(index);
        let proof = InclusionProof::build(&mmr, index, count, nonce, bytes.clone()).unwrap();
        prop_assert_eq!(proof.verify(&root, count), Ok(()));

        let mut tampered = proof.clone();
        tampered.vector_bytes[flip] ^= 1;
        prop_assert!(tampered.verify(&root, count).is_err());

        let mut wrong_nonce = proof.clone();
        wrong_nonce.nonce_value ^= 1;
        prop_assert!(wrong_nonce.verify(&root, count).is_err());

        let other = other_seed % count;
        if other != index {
            let mut moved = proof.clone();
            moved.leaf_index = other;
            prop_assert!(moved.verify(&root, count).is_err());
        }

        let mut bad_root = root;
        bad_root[other_seed as usize % 32] ^= 0x80;
        prop_assert!(proof.verify(&bad_root, count).is_err());

        if !proof.proof.is_empty() {
            let mut bad_sibling = proof.clone();
            bad_sibling.proof[other_seed as usize % proof.proof.len()][0] ^= 1;
            prop_assert!(bad_sibling.verify(&root, count).is_err());
        }
    }

    #[test]
    fn parsing_arbitrary_proof_json_never_panics(text in ".{0,200}") {
        let _ = serde_json::from_str::<InclusionProof>(&text);
        let wrapped = format!(r#"{{"leaf_index":1,"nonce_value":2,"vector_bytes":"{text}","proof":["{text}"]}}"#);
        let _ = serde_json::from_str::<InclusionProof>(&wrapped);
    }

    #[test]
    fn verifying_arbitrary_input_never_panics(
        root in any::<[u8; 32]>(),
        count in any::<u32>(),
        index in any::<u32>(),
        leaf in any::<[u8; 32]>(),
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..40),
    ) {
        let _ = verify_inclusion(&root, count, index, &leaf, &proof);
    }
}
