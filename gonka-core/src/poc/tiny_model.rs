//! Small deterministic CPU models implementing [`HiddenStateModel`], for devnets, simulators and
//! tests that need real PoC artifacts without a GPU or model weights. They are not language
//! models: only the PoC pipeline around them is real.

use super::compute::{HiddenStateModel, LayerReflections};
use super::error::PocError;
use super::rng::normals;

/// Every layer is the identity followed by its Householder reflection; the output is the last
/// position (no final norm). Small enough to re-implement in the Python reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReflectOnlyModel {
    /// Hidden size `H`.
    pub hidden: usize,
    /// Number of layers `L`.
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
        if seq_len == 0 || inputs_embeds.len() != seq_len * self.hidden {
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
    /// A model with hidden size `hidden` and `layers` layers whose weights are seeded normals
    /// (scaled by `1/√hidden`) derived from `weight_seed`: equal arguments, equal model.
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

    /// Fault injection: the model outputs NaN for the input whose first value is `first`
    /// (e.g. `round.input_embeddings(nonce)[0]`), as a broken GPU kernel would.
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
            return Err(PocError::model(format!(
                "expected {seq_len}×{h} inputs (seq_len ≥ 1), got {}",
                inputs_embeds.len()
            )));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_model_and_shape_errors_are_reported() {
        let r = LayerReflections::new("AB", 2, 16);
        let x = normals(5, 3 * 16);
        let a = TinyModel::new(16, 2, 9)
            .last_hidden_state(&x, 3, &r)
            .unwrap();
        let b = TinyModel::new(16, 2, 9)
            .last_hidden_state(&x, 3, &r)
            .unwrap();
        let c = TinyModel::new(16, 2, 10)
            .last_hidden_state(&x, 3, &r)
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 16);
        assert!(TinyModel::new(16, 2, 9)
            .last_hidden_state(&x, 2, &r)
            .is_err());
        assert!(TinyModel::new(16, 2, 9)
            .last_hidden_state(&[], 0, &r)
            .is_err());
        let reflect = ReflectOnlyModel {
            hidden: 16,
            layers: 2,
        };
        assert!(reflect.last_hidden_state(&[], 0, &r).is_err());
        assert!(reflect.last_hidden_state(&x, 4, &r).is_err());
    }
}
