//! Tiny deterministic models for the PoC tests (compiled only for tests).

use super::compute::{HiddenStateModel, LayerReflections};
use super::error::PocError;
use super::rng::normals;

/// Every layer is the identity followed by its Householder reflection; the output is the last
/// position (no final norm). Small enough to re-implement in the Python reference.
#[derive(Debug)]
pub struct ReflectOnlyModel {
    pub hidden: usize,
    pub layers: usize,
}

impl HiddenStateModel for ReflectOnlyModel {
    fn hidden_size(&self) -> usize {
        self.hidden
    }

    fn num_layers(&self) -> usize {
        self.layers
    }

    fn last_hidden_state(
        &self,
        inputs_embeds: &[f32],
        seq_len: usize,
        reflections: &LayerReflections,
    ) -> Result<Vec<f32>, PocError> {
        if inputs_embeds.len() != seq_len * self.hidden {
            return Err(PocError::model(format!(
                "expected {}×{} inputs, got {}",
                seq_len,
                self.hidden,
                inputs_embeds.len()
            )));
        }
        let mut x = inputs_embeds.to_vec();
        for layer in 0..self.layers {
            reflections.apply(layer, &mut x)?;
        }
        Ok(x[(seq_len - 1) * self.hidden..].to_vec())
    }
}

/// A small causal "transformer-like" network with seeded weights: each layer adds
/// `tanh(W_l · mean(x_0..=x_t))` to position t, then reflects; RMSNorm at the end.
#[derive(Debug)]
pub struct TinyModel {
    hidden: usize,
    weights: Vec<Vec<f32>>,
    nan_when_first_input_is: Option<f32>,
}

impl TinyModel {
    pub fn new(hidden: usize, layers: usize, weight_seed: u32) -> Self {
        let scale = 1.0 / (hidden as f32).sqrt();
        let weights = (0..layers)
            .map(|l| {
                normals(
                    weight_seed.wrapping_mul(31).wrapping_add(l as u32),
                    hidden * hidden,
                )
                .into_iter()
                .map(|w| w * scale)
                .collect()
            })
            .collect();
        Self {
            hidden,
            weights,
            nan_when_first_input_is: None,
        }
    }

    /// Makes the model output NaN for the nonce whose first input value is `first`.
    pub fn with_nan_nonce_input(mut self, first: f32) -> Self {
        self.nan_when_first_input_is = Some(first);
        self
    }
}

impl HiddenStateModel for TinyModel {
    fn hidden_size(&self) -> usize {
        self.hidden
    }

    fn num_layers(&self) -> usize {
        self.weights.len()
    }

    fn last_hidden_state(
        &self,
        inputs_embeds: &[f32],
        seq_len: usize,
        reflections: &LayerReflections,
    ) -> Result<Vec<f32>, PocError> {
        let h = self.hidden;
        if inputs_embeds.len() != seq_len * h || seq_len == 0 {
            return Err(PocError::model("input shape mismatch"));
        }
        if self.nan_when_first_input_is == Some(inputs_embeds[0]) {
            return Ok(vec![f32::NAN; h]);
        }
        let mut x = inputs_embeds.to_vec();
        for (layer, w) in self.weights.iter().enumerate() {
            let mut mean = vec![0f32; h];
            let mut update = vec![0f32; seq_len * h];
            for t in 0..seq_len {
                for d in 0..h {
                    mean[d] += x[t * h + d];
                }
                for o in 0..h {
                    let mut acc = 0f32;
                    for d in 0..h {
                        acc += w[o * h + d] * mean[d] / (t + 1) as f32;
                    }
                    update[t * h + o] = acc.tanh();
                }
            }
            for (xi, ui) in x.iter_mut().zip(&update) {
                *xi += ui;
            }
            reflections.apply(layer, &mut x)?;
        }
        let last = &x[(seq_len - 1) * h..];
        let rms = (last.iter().map(|v| v * v).sum::<f32>() / h as f32 + 1e-6).sqrt();
        Ok(last.iter().map(|v| v / rms).collect())
    }
}
