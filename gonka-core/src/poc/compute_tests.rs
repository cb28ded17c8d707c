use super::*;
use crate::poc::tiny_model::{ReflectOnlyModel, TinyModel};

const BH: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";

fn params(seq_len: usize) -> RoundParams {
    RoundParams {
        seq_len,
        ..RoundParams::new(BH, format!("02{}", "11".repeat(32)))
    }
}

#[test]
fn end_to_end_known_answer_with_reflect_only_model() {
    // From poc/kat/poc_v2_reference.py ("pipeline H16 L2 s2"): a model whose layers are
    // the identity followed by the layer's Householder reflection, H = 16, 2 layers,
    // seq_len = 2. Exercises input seeding, row-major layout, reflections, pick, Haar,
    // normalisation and encoding together.
    let model = ReflectOnlyModel {
        hidden: 16,
        layers: 2,
    };
    let round = PocRound::for_model(params(2), &model).unwrap();
    let expected = [
        (0, "hLFxrPUrdakVuLCyI7hKs000oa3Vtyaw"),
        (1, "P7bEtQu4li9Cpcgycay4Meeq+7HtsVY4"),
        (12345, "F7SgNMaxqS4KqjYoY7puIfetN7VSs46b"),
    ];
    for (nonce, b64) in expected {
        let a = compute_artifact(&model, &round, nonce).unwrap().unwrap();
        assert_eq!(a.vector_b64, b64, "nonce {nonce}");
    }
}

#[test]
fn input_embeddings_are_the_seeded_normals_row_major() {
    let round = PocRound::new(params(3), 16, 1).unwrap();
    let x = round.input_embeddings(0);
    assert_eq!(x.len(), 48);
    assert_eq!(x, normals(888_438_895, 48));
}

#[test]
fn stronger_rng_changes_only_the_inputs() {
    let mut p = params(2);
    p.stronger_rng = true;
    let strong = PocRound::new(p, 16, 2).unwrap();
    let plain = PocRound::new(params(2), 16, 2).unwrap();
    let s = seeds::input(BH, &plain.params().public_key, 4);
    assert_eq!(strong.input_embeddings(4), stronger_normals(&s, 32));
    assert_ne!(strong.input_embeddings(4), plain.input_embeddings(4));
    assert_eq!(strong.reflections(), plain.reflections());
}

#[test]
fn batch_equals_one_by_one_and_is_deterministic() {
    let model = TinyModel::new(24, 3, 7);
    let round = PocRound::for_model(params(4), &model).unwrap();
    let nonces = [0, 5, 9, 1000];
    let batch = round.compute_artifacts(&model, &nonces).unwrap();
    let single: Vec<Artifact> = nonces
        .iter()
        .map(|&n| round.compute_artifact(&model, n).unwrap().unwrap())
        .collect();
    assert_eq!(batch, single);
    assert_eq!(batch, round.compute_artifacts(&model, &nonces).unwrap());
    let distinct: std::collections::HashSet<_> = batch.iter().map(|a| &a.vector_b64).collect();
    assert_eq!(distinct.len(), nonces.len());
}

#[test]
fn nan_hidden_state_drops_only_that_nonce() {
    let model = TinyModel::new(16, 2, 1).with_nan_nonce_input(round_first_input(5));
    let round = PocRound::for_model(params(2), &model).unwrap();
    let out = round.compute_artifacts(&model, &[4, 5, 6]).unwrap();
    assert_eq!(out.iter().map(|a| a.nonce).collect::<Vec<_>>(), [4, 6]);
    assert_eq!(round.compute_artifact(&model, 5).unwrap(), None);
}

fn round_first_input(nonce: Nonce) -> f32 {
    PocRound::new(params(2), 16, 2)
        .unwrap()
        .input_embeddings(nonce)[0]
}

#[derive(Debug)]
struct WrongSizeModel;

impl HiddenStateModel for WrongSizeModel {
    fn hidden_size(&self) -> usize {
        16
    }
    fn num_layers(&self) -> usize {
        1
    }
    fn last_hidden_state(
        &self,
        _: &[f32],
        _: usize,
        _: &LayerReflections,
    ) -> Result<Vec<f32>, PocError> {
        Ok(vec![1.0; 20])
    }
}

#[test]
fn wrong_hidden_size_from_the_model_is_an_error() {
    let round = PocRound::for_model(params(2), &WrongSizeModel).unwrap();
    let err = round.compute_artifact(&WrongSizeModel, 0).unwrap_err();
    assert!(
        matches!(
            err,
            PocError::HiddenSize {
                expected: 16,
                actual: 20
            }
        ),
        "{err}"
    );
    assert!(round.compute_artifacts(&WrongSizeModel, &[0]).is_err());
}

#[test]
fn round_rejects_bad_shapes() {
    assert!(matches!(
        PocRound::new(params(0), 16, 2),
        Err(PocError::InvalidParams(_))
    ));
    assert!(matches!(
        PocRound::new(params(2), 11, 2),
        Err(PocError::InvalidParams(_))
    ));
}

#[test]
fn reflections_apply_checks_layer_and_shape() {
    let r = LayerReflections::new(BH, 2, 4);
    let mut ok = vec![1.0f32; 8];
    r.apply(1, &mut ok).unwrap();
    assert!(r.apply(2, &mut ok).is_err());
    assert!(r.apply(0, &mut [1.0; 6]).is_err());
    assert_eq!(r.vector(0).unwrap().len(), 4);
    assert!(r.vector(2).is_none());
}

#[test]
fn round_params_json_defaults_seq_len_and_rng() {
    let p: RoundParams =
        serde_json::from_str(r#"{"block_hash": "AB", "public_key": "02cd"}"#).unwrap();
    assert_eq!(p, RoundParams::new("AB", "02cd"));
    assert_eq!(p.seq_len, DEFAULT_SEQ_LEN);
}
