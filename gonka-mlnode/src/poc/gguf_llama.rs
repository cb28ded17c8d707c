//! The candle backend (feature `candle`): PoC v2 over the node's served GGUF llama model on CPU.
//!
//! [`GgufLlama`] reads a llama GGUF (any ggml type candle dequantizes; e.g. the tiny F32 model of
//! [`crate::gguf::TinyLlama`]) into float32 candle tensors and runs its decoder in float32 with
//! inputs embeddings instead of tokens: RMSNorm → attention (causal, RoPE on interleaved pairs
//! as ggml's llama, `llama.rope.freq_base`) → residual → RMSNorm → SwiGLU MLP → residual → the
//! round's Householder reflection of the stream, for every layer; then the final RMSNorm at the
//! last position (before the output head). The same file and inputs give the same bits on the
//! same build (candle's CPU matmul splits work over outputs, never over the reduction).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor, D};
use gonka_core::poc::compute::{HiddenStateModel, LayerReflections, PocRound, RoundParams};
use gonka_core::poc::error::PocError;

use super::compute::{ModelRound, PocCompute, PreparedRound};

fn model_err(e: impl std::fmt::Display) -> PocError {
    PocError::model(e.to_string())
}

#[derive(Debug)]
struct Layer {
    attn_norm: Tensor,
    wq: Tensor,
    wk: Tensor,
    wv: Tensor,
    wo: Tensor,
    ffn_norm: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

/// A llama decoder loaded from GGUF (see the module docs).
#[derive(Debug)]
pub struct GgufLlama {
    layers: Vec<Layer>,
    output_norm: Tensor,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    eps: f64,
    rope_base: f32,
}

impl GgufLlama {
    /// Loads the llama model in the GGUF file at `path`.
    ///
    /// # Errors
    /// [`PocError::Model`] naming the file and the missing or malformed key or tensor.
    pub fn load(path: &Path) -> Result<Self, PocError> {
        let ctx = |e: candle_core::Error| model_err(format!("{}: {e}", path.display()));
        let mut file =
            std::fs::File::open(path).map_err(|e| model_err(format!("{}: {e}", path.display())))?;
        let content = gguf_file::Content::read(&mut file).map_err(ctx)?;
        let meta = |key: &str| {
            content
                .metadata
                .get(key)
                .ok_or_else(|| model_err(format!("{}: no {key} in the GGUF", path.display())))
        };
        let u = |key: &str| -> Result<usize, PocError> {
            Ok(meta(key)?.to_u32().map_err(ctx)? as usize)
        };
        let hidden = u("llama.embedding_length")?;
        let layers = u("llama.block_count")?;
        let heads = u("llama.attention.head_count")?;
        let kv_heads = u("llama.attention.head_count_kv").unwrap_or(heads);
        let eps = f64::from(
            meta("llama.attention.layer_norm_rms_epsilon")?
                .to_f32()
                .map_err(ctx)?,
        );
        let rope_base = meta("llama.rope.freq_base")
            .and_then(|v| v.to_f32().map_err(ctx))
            .unwrap_or(10_000.0);
        if heads == 0
            || kv_heads == 0
            || !hidden.is_multiple_of(heads)
            || !heads.is_multiple_of(kv_heads)
        {
            return Err(model_err(format!(
                "{}: unsupported shape: hidden {hidden}, heads {heads}, kv heads {kv_heads}",
                path.display()
            )));
        }
        let mut tensor = |name: String| -> Result<Tensor, PocError> {
            content
                .tensor(&mut file, &name, &Device::Cpu)
                .and_then(|q| q.dequantize(&Device::Cpu))
                .and_then(|t| t.to_dtype(DType::F32))
                .map_err(|e| model_err(format!("{}: tensor {name}: {e}", path.display())))
        };
        let mut blocks = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = |n: &str| format!("blk.{i}.{n}.weight");
            blocks.push(Layer {
                attn_norm: tensor(p("attn_norm"))?,
                wq: tensor(p("attn_q"))?.t().map_err(ctx)?,
                wk: tensor(p("attn_k"))?.t().map_err(ctx)?,
                wv: tensor(p("attn_v"))?.t().map_err(ctx)?,
                wo: tensor(p("attn_output"))?.t().map_err(ctx)?,
                ffn_norm: tensor(p("ffn_norm"))?,
                gate: tensor(p("ffn_gate"))?.t().map_err(ctx)?,
                up: tensor(p("ffn_up"))?.t().map_err(ctx)?,
                down: tensor(p("ffn_down"))?.t().map_err(ctx)?,
            });
        }
        Ok(Self {
            layers: blocks,
            output_norm: tensor("output_norm.weight".into())?,
            hidden,
            heads,
            kv_heads,
            eps,
            rope_base,
        })
    }

    fn rms_norm(&self, x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        let inv = (ms + self.eps)?.sqrt()?.recip()?;
        x.broadcast_mul(&inv)?.broadcast_mul(w)
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        // x: (heads, seq, hd) → pairs (heads, seq, hd/2, 2)
        let (h, s, hd) = x.dims3()?;
        let pairs = x.reshape((h, s, hd / 2, 2))?;
        let x0 = pairs.narrow(3, 0, 1)?.squeeze(3)?;
        let x1 = pairs.narrow(3, 1, 1)?.squeeze(3)?;
        let r0 = (x0.broadcast_mul(cos)? - x1.broadcast_mul(sin)?)?;
        let r1 = (x0.broadcast_mul(sin)? + x1.broadcast_mul(cos)?)?;
        Tensor::stack(&[r0, r1], 3)?.reshape((h, s, hd))
    }

    fn forward(
        &self,
        inputs: &[f32],
        seq: usize,
        reflections: &LayerReflections,
    ) -> candle_core::Result<Vec<f32>> {
        let d = self.hidden;
        let hd = d / self.heads;
        let dev = Device::Cpu;
        let mut x = Tensor::from_slice(inputs, (seq, d), &dev)?;
        let half = hd / 2;
        let mut cos = Vec::with_capacity(seq * half);
        let mut sin = Vec::with_capacity(seq * half);
        for p in 0..seq {
            for i in 0..half {
                let theta = p as f32 * self.rope_base.powf(-2.0 * i as f32 / hd as f32);
                cos.push(theta.cos());
                sin.push(theta.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (seq, half), &dev)?;
        let sin = Tensor::from_vec(sin, (seq, half), &dev)?;
        let mask: Vec<f32> = (0..seq * seq)
            .map(|i| {
                if i % seq > i / seq {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (seq, seq), &dev)?;
        let scale = 1.0 / (hd as f64).sqrt();
        let group = self.heads / self.kv_heads;
        for (i, l) in self.layers.iter().enumerate() {
            let h = self.rms_norm(&x, &l.attn_norm)?;
            let split = |t: Tensor, n: usize| -> candle_core::Result<Tensor> {
                t.reshape((seq, n, hd))?.transpose(0, 1)?.contiguous()
            };
            let q = self.rope(&split(h.matmul(&l.wq)?, self.heads)?, &cos, &sin)?;
            let mut k = self.rope(&split(h.matmul(&l.wk)?, self.kv_heads)?, &cos, &sin)?;
            let mut v = split(h.matmul(&l.wv)?, self.kv_heads)?;
            if group > 1 {
                let rep = |t: &Tensor| -> candle_core::Result<Tensor> {
                    let (n, s, e) = t.dims3()?;
                    t.unsqueeze(1)?
                        .broadcast_as((n, group, s, e))?
                        .reshape((n * group, s, e))
                };
                k = rep(&k)?;
                v = rep(&v)?;
            }
            let att =
                (q.matmul(&k.transpose(1, 2)?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
            let max = att.max_keepdim(D::Minus1)?;
            let e = att.broadcast_sub(&max)?.exp()?;
            let att = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
            let o = att
                .matmul(&v)?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((seq, d))?
                .matmul(&l.wo)?;
            x = (x + o)?;
            let h = self.rms_norm(&x, &l.ffn_norm)?;
            let ff = (h.matmul(&l.gate)?.silu()? * h.matmul(&l.up)?)?.matmul(&l.down)?;
            x = (x + ff)?;
            if let Some(v) = reflections.vector(i) {
                let v = Tensor::from_slice(v, (1, d), &dev)?;
                let dots = x.matmul(&v.t()?)?;
                x = x.broadcast_sub(&(dots * 2.0)?.broadcast_mul(&v)?)?;
            }
        }
        let last = x.narrow(0, seq - 1, 1)?;
        self.rms_norm(&last, &self.output_norm)?
            .squeeze(0)?
            .to_vec1::<f32>()
    }
}

impl HiddenStateModel for GgufLlama {
    fn hidden_size(&self) -> usize {
        self.hidden
    }

    fn num_layers(&self) -> usize {
        self.layers.len()
    }

    fn last_hidden_state(
        &self,
        inputs_embeds: &[f32],
        seq_len: usize,
        reflections: &LayerReflections,
    ) -> Result<Vec<f32>, PocError> {
        if seq_len == 0 || inputs_embeds.len() != seq_len * self.hidden {
            return Err(PocError::model(format!(
                "expected {seq_len}×{} inputs (seq_len ≥ 1), got {}",
                self.hidden,
                inputs_embeds.len()
            )));
        }
        self.forward(inputs_embeds, seq_len, reflections)
            .map_err(model_err)
    }
}

/// [`PocCompute`] over a GGUF llama model file (the node's served model).
#[derive(Debug, Clone)]
pub struct GgufLlamaCompute {
    path: PathBuf,
    model: Arc<GgufLlama>,
}

impl GgufLlamaCompute {
    /// Loads `path` once; every round reuses the weights.
    ///
    /// # Errors
    /// As [`GgufLlama::load`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, PocError> {
        let path = path.into();
        let model = Arc::new(GgufLlama::load(&path)?);
        Ok(Self { path, model })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl PocCompute for GgufLlamaCompute {
    fn name(&self) -> &str {
        "candle-gguf-llama"
    }

    fn prepare(
        &self,
        _model: &str,
        round: RoundParams,
    ) -> Result<Box<dyn PreparedRound>, PocError> {
        let poc_round = PocRound::for_model(round, self.model.as_ref())?;
        Ok(Box::new(ModelRound::new(
            Arc::clone(&self.model),
            poc_round,
        )))
    }
}

#[cfg(test)]
mod tests {
    use gonka_core::poc::params::ValidationParams;

    use super::*;
    use crate::gguf::TinyLlama;

    fn round(bh: &str) -> RoundParams {
        RoundParams {
            seq_len: 6,
            ..RoundParams::new(bh, "02aa")
        }
    }

    #[test]
    fn tiny_gguf_llama_gives_bit_identical_artifacts_that_validate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyLlama::default().write_to(&path).unwrap();
        let a = GgufLlamaCompute::open(&path).unwrap();
        let b = GgufLlamaCompute::open(&path).unwrap();
        let ra = a.prepare("m", round("AA")).unwrap();
        let arts = ra.compute(&[0, 5, 9]).unwrap();
        assert_eq!(arts.len(), 3);
        assert_eq!(
            arts,
            b.prepare("m", round("AA"))
                .unwrap()
                .compute(&[0, 5, 9])
                .unwrap()
        );
        let other = a.prepare("m", round("BB")).unwrap().compute(&[0]).unwrap();
        assert_ne!(arts[0].vector_b64, other[0].vector_b64);
        let v = ra.validate(&arts, &ValidationParams::default()).unwrap();
        assert_eq!(v.n_mismatch, 0);
        let tiny = super::super::TinyModelCompute::default()
            .prepare("m", round("AA"))
            .unwrap()
            .compute(&[0, 5, 9])
            .unwrap();
        let v = ra.validate(&tiny, &ValidationParams::default()).unwrap();
        assert_eq!(v.n_mismatch, 3, "another model's vectors must mismatch");
        assert_eq!(a.model.hidden_size(), 64);
        assert_eq!(a.model.num_layers(), 2);
    }

    /// The served-GGUF model behind the shared `PoCVerifier` conformance suite: honest artifacts
    /// recomputed from the same file pass, tampered or foreign ones do not.
    #[tokio::test]
    async fn model_verifier_over_the_gguf_llama_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyLlama::default().write_to(&path).unwrap();
        let served = GgufLlamaCompute::open(&path).unwrap();
        let reference = GgufLlamaCompute::open(&path).unwrap();
        let verifier =
            gonka_core::poc::model_verifier::ModelVerifier::new("tiny-gguf", served.model.clone());
        let fixture = gonka_core::testing::VerifierFixture {
            model_name: "tiny-gguf",
            reference: reference.model.as_ref(),
        };
        gonka_core::testing::verifier_suite(&verifier, fixture).await;
    }

    #[test]
    fn a_missing_or_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.gguf");
        assert!(GgufLlamaCompute::open(&missing)
            .unwrap_err()
            .to_string()
            .contains("none.gguf"));
        let broken = dir.path().join("broken.gguf");
        std::fs::write(&broken, b"not a gguf").unwrap();
        assert!(GgufLlamaCompute::open(&broken).is_err());
    }
}
