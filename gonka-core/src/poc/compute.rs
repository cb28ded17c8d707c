//! The per-nonce pipeline of docs/poc-v2.md §2: seeded input → model with per-layer reflections →
//! last hidden state → artifact vector. The model itself is behind [`HiddenStateModel`], so
//! this module stays pure: the ML node plugs in its real runner, tests a tiny fake.

use serde::{Deserialize, Serialize};

use super::encoding::{encode_vector_b64, K_DIM};
use super::error::PocError;
use super::rng::{normals, seed_from_str, stronger_normals};
use super::transform::{householder_vector, project_hidden_state, reflect};
use super::{seeds, Nonce};

/// The default number of input positions per nonce (chain default; some models use 1024).
pub const DEFAULT_SEQ_LEN: usize = 256;

/// What seeds one PoC round for one prover: the same for every nonce of that prover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundParams {
    /// The seed block hash exactly as the chain prints it (case matters).
    pub block_hash: String,
    /// The prover's public key, lower-case hex of the compressed secp256k1 key.
    pub public_key: String,
    /// Input positions per nonce ([`DEFAULT_SEQ_LEN`] unless the model's chain config says;
    /// also the default when absent from JSON).
    #[serde(default = "default_seq_len")]
    pub seq_len: usize,
    /// Whether inputs use the stronger RNG (§1.6, chain flag `poc_stronger_rng_enabled`).
    #[serde(default)]
    pub stronger_rng: bool,
}

fn default_seq_len() -> usize {
    DEFAULT_SEQ_LEN
}

impl Default for RoundParams {
    /// Empty block hash and key, [`DEFAULT_SEQ_LEN`], standard RNG.
    fn default() -> Self {
        Self::new(String::new(), String::new())
    }
}

impl RoundParams {
    /// Parameters with the default sequence length and the standard RNG.
    pub fn new(block_hash: impl Into<String>, public_key: impl Into<String>) -> Self {
        Self {
            block_hash: block_hash.into(),
            public_key: public_key.into(),
            seq_len: DEFAULT_SEQ_LEN,
            stronger_rng: false,
        }
    }
}

/// One artifact as the ML node sends it: the nonce and its encoded 12-dimensional vector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Artifact {
    /// The nonce.
    pub nonce: Nonce,
    /// 12 × float16 little-endian, standard base64 (see [`super::encoding`]).
    pub vector_b64: String,
}

/// The unit Householder vectors `v_i` of every decoder layer of one round (§2 step 2).
///
/// They depend only on the block hash and the model shape, so one value serves every nonce and
/// prover of the round: build it once and hand it to the model for every forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReflections {
    hidden: usize,
    vectors: Vec<Vec<f32>>,
}

impl LayerReflections {
    /// Computes `v_i` for layers `0..num_layers` of a model with hidden size `hidden`.
    pub fn new(block_hash: &str, num_layers: usize, hidden: usize) -> Self {
        let vectors = (0..num_layers)
            .map(|layer| householder_vector(block_hash, layer, hidden))
            .collect();
        Self { hidden, vectors }
    }

    /// The number of layers covered.
    pub fn num_layers(&self) -> usize {
        self.vectors.len()
    }

    /// The hidden size every vector has.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The unit vector of `layer`, for runners that apply it in their own dtype on device.
    pub fn vector(&self, layer: usize) -> Option<&[f32]> {
        self.vectors.get(layer).map(Vec::as_slice)
    }

    /// Reflects every row of a row-major `[rows, hidden]` float32 stream with layer `layer`'s
    /// vector: `x ← x − 2(x·v)v` per row. A model calls this on each decoder layer's output.
    ///
    /// # Errors
    /// [`PocError::InvalidParams`] when `layer` is out of range or `stream` is not a whole
    /// number of rows.
    pub fn apply(&self, layer: usize, stream: &mut [f32]) -> Result<(), PocError> {
        let v = self.vector(layer).ok_or_else(|| {
            PocError::InvalidParams(format!(
                "layer {layer} out of range ({} layers)",
                self.num_layers()
            ))
        })?;
        if self.hidden == 0 || !stream.len().is_multiple_of(self.hidden) {
            return Err(PocError::InvalidParams(format!(
                "stream of {} values is not a whole number of rows of {}",
                stream.len(),
                self.hidden
            )));
        }
        for row in stream.chunks_exact_mut(self.hidden) {
            reflect(row, v);
        }
        Ok(())
    }
}

/// "Run the model on these input embeddings and give me the last hidden state": the one thing
/// the PoC pipeline needs from an inference runtime.
///
/// Contract for [`last_hidden_state`](Self::last_hidden_state): `inputs_embeds` is row-major
/// `[seq_len, hidden_size]` float32 (cast it to the model dtype yourself); it replaces the token
/// embeddings (no BOS, positions `0..seq_len`, causal). After decoder layer `i` (0-based, the
/// last one included, before the final norm) the layer's output stream must be reflected with
/// `reflections.apply(i, ..)` (or [`LayerReflections::vector`] on device). Return the output of
/// the final norm at position `seq_len − 1` as `hidden_size` float32 values.
pub trait HiddenStateModel {
    /// The model's hidden size `H`.
    fn hidden_size(&self) -> usize;

    /// The number of decoder layers `L`.
    fn num_layers(&self) -> usize;

    /// Runs one nonce; see the trait docs for the contract.
    ///
    /// # Errors
    /// Any runtime failure, as [`PocError::Model`].
    fn last_hidden_state(
        &self,
        inputs_embeds: &[f32],
        seq_len: usize,
        reflections: &LayerReflections,
    ) -> Result<Vec<f32>, PocError>;

    /// Runs a batch of nonces (each as in [`last_hidden_state`](Self::last_hidden_state)).
    /// The default runs them one by one; batching runtimes override it.
    ///
    /// # Errors
    /// Any runtime failure, as [`PocError::Model`].
    fn last_hidden_states(
        &self,
        batch: &[Vec<f32>],
        seq_len: usize,
        reflections: &LayerReflections,
    ) -> Result<Vec<Vec<f32>>, PocError> {
        batch
            .iter()
            .map(|inputs| self.last_hidden_state(inputs, seq_len, reflections))
            .collect()
    }
}

/// One prover's round, ready to compute nonces: its parameters plus the layer reflections.
#[derive(Debug, Clone)]
pub struct PocRound {
    params: RoundParams,
    reflections: LayerReflections,
}

impl PocRound {
    /// Prepares a round for a model of `hidden` size and `num_layers` layers.
    ///
    /// # Errors
    /// [`PocError::InvalidParams`] when `seq_len` is 0 or `hidden` < 12.
    pub fn new(params: RoundParams, hidden: usize, num_layers: usize) -> Result<Self, PocError> {
        if params.seq_len == 0 {
            return Err(PocError::InvalidParams("seq_len must be at least 1".into()));
        }
        if hidden < K_DIM {
            return Err(PocError::InvalidParams(format!(
                "hidden size {hidden} is smaller than k_dim {K_DIM}"
            )));
        }
        let reflections = LayerReflections::new(&params.block_hash, num_layers, hidden);
        Ok(Self {
            params,
            reflections,
        })
    }

    /// Prepares a round for `model`'s shape (see [`PocRound::new`]).
    ///
    /// # Errors
    /// As [`PocRound::new`].
    pub fn for_model<M: HiddenStateModel + ?Sized>(
        params: RoundParams,
        model: &M,
    ) -> Result<Self, PocError> {
        Self::new(params, model.hidden_size(), model.num_layers())
    }

    /// The round's parameters.
    pub fn params(&self) -> &RoundParams {
        &self.params
    }

    /// The layer reflections of the round.
    pub fn reflections(&self) -> &LayerReflections {
        &self.reflections
    }

    /// The input embeddings of `nonce` (§2 step 1): `seq_len × hidden` float32 normals, row-major.
    pub fn input_embeddings(&self, nonce: Nonce) -> Vec<f32> {
        let s = seeds::input(&self.params.block_hash, &self.params.public_key, nonce);
        let m = self.params.seq_len * self.reflections.hidden;
        if self.params.stronger_rng {
            stronger_normals(&s, m)
        } else {
            normals(seed_from_str(&s), m)
        }
    }

    /// Turns a model's last hidden state for `nonce` into the artifact vector, or `None` when
    /// the reference would drop the nonce (NaN/infinite values).
    ///
    /// # Errors
    /// [`PocError::HiddenSize`] when the state does not have the round's hidden size.
    pub fn project(
        &self,
        nonce: Nonce,
        hidden_state: &[f32],
    ) -> Result<Option<[f32; K_DIM]>, PocError> {
        if hidden_state.len() != self.reflections.hidden {
            return Err(PocError::HiddenSize {
                expected: self.reflections.hidden,
                actual: hidden_state.len(),
            });
        }
        Ok(project_hidden_state(
            hidden_state,
            &self.params.block_hash,
            &self.params.public_key,
            nonce,
        ))
    }

    /// Computes the float32 artifact vector of `nonce` with `model` (before float16 encoding);
    /// `None` when the nonce is dropped for NaN.
    ///
    /// # Errors
    /// The model's error, or [`PocError::HiddenSize`] for a wrongly sized result.
    pub fn compute_vector<M: HiddenStateModel + ?Sized>(
        &self,
        model: &M,
        nonce: Nonce,
    ) -> Result<Option<[f32; K_DIM]>, PocError> {
        let inputs = self.input_embeddings(nonce);
        let h = model.last_hidden_state(&inputs, self.params.seq_len, &self.reflections)?;
        self.project(nonce, &h)
    }

    /// Computes the artifact of `nonce`; `None` when the nonce is dropped for NaN.
    ///
    /// # Errors
    /// As [`PocRound::compute_vector`].
    pub fn compute_artifact<M: HiddenStateModel + ?Sized>(
        &self,
        model: &M,
        nonce: Nonce,
    ) -> Result<Option<Artifact>, PocError> {
        Ok(self
            .compute_vector(model, nonce)?
            .map(|v| artifact(nonce, &v)))
    }

    /// Computes a batch of nonces with one [`HiddenStateModel::last_hidden_states`] call.
    /// Dropped nonces are left out; the others keep their order.
    ///
    /// # Errors
    /// As [`PocRound::compute_vector`]; the whole batch fails together.
    pub fn compute_artifacts<M: HiddenStateModel + ?Sized>(
        &self,
        model: &M,
        nonces: &[Nonce],
    ) -> Result<Vec<Artifact>, PocError> {
        let inputs: Vec<Vec<f32>> = nonces.iter().map(|&n| self.input_embeddings(n)).collect();
        let states = model.last_hidden_states(&inputs, self.params.seq_len, &self.reflections)?;
        if states.len() != nonces.len() {
            return Err(PocError::model(format!(
                "model returned {} hidden states for {} nonces",
                states.len(),
                nonces.len()
            )));
        }
        let mut out = Vec::with_capacity(nonces.len());
        for (&nonce, h) in nonces.iter().zip(&states) {
            if let Some(v) = self.project(nonce, h)? {
                out.push(artifact(nonce, &v));
            }
        }
        Ok(out)
    }
}

/// The artifact of `nonce` for `model` in `round` (see [`PocRound::compute_artifact`]).
///
/// # Errors
/// As [`PocRound::compute_vector`].
pub fn compute_artifact<M: HiddenStateModel + ?Sized>(
    model: &M,
    round: &PocRound,
    nonce: Nonce,
) -> Result<Option<Artifact>, PocError> {
    round.compute_artifact(model, nonce)
}

fn artifact(nonce: Nonce, vector: &[f32; K_DIM]) -> Artifact {
    Artifact {
        nonce,
        vector_b64: encode_vector_b64(vector),
    }
}

#[cfg(test)]
#[path = "compute_tests.rs"]
mod tests;
