//! A tiny random-weight llama model in GGUF, for running llama.cpp on CPU in tests.

use std::collections::HashSet;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::words::WORDS;
use super::{GgufValue, GgufWriter};

const SPECIAL: [&str; 5] = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"];
const TYPE_NORMAL: i32 = 1;
const TYPE_UNKNOWN: i32 = 2;
const TYPE_CONTROL: i32 = 3;
const TYPE_BYTE: i32 = 6;
const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + \
message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}\
{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Parameters of the generated model. `Default` gives the CI model: 2 layers, dim 64, 4 heads,
/// feed-forward 128, context 4096, seed 0 (~1.2 MB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TinyLlama {
    /// Transformer blocks.
    pub layers: usize,
    /// Embedding width; a multiple of `heads`.
    pub dim: usize,
    /// Attention heads (no grouped-query attention).
    pub heads: usize,
    /// Feed-forward width.
    pub ff: usize,
    /// Context length written into the metadata.
    pub context: u32,
    /// Seed of the weights; the same seed gives the same bytes.
    pub seed: u64,
    /// `general.name` of the model.
    pub name: String,
}

impl Default for TinyLlama {
    fn default() -> Self {
        Self {
            layers: 2,
            dim: 64,
            heads: 4,
            ff: 128,
            context: 4096,
            seed: 0,
            name: "tiny-random-llama".into(),
        }
    }
}

struct Vocab {
    tokens: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i32>,
}

fn vocab() -> Vocab {
    let mut v = Vocab {
        tokens: Vec::new(),
        scores: Vec::new(),
        types: Vec::new(),
    };
    let add = |v: &mut Vocab, tok: String, score: f32, ty: i32| {
        v.tokens.push(tok);
        v.scores.push(score);
        v.types.push(ty);
    };
    for (i, s) in SPECIAL.iter().enumerate() {
        add(
            &mut v,
            (*s).to_owned(),
            0.0,
            if i == 0 { TYPE_UNKNOWN } else { TYPE_CONTROL },
        );
    }
    // Byte fallback: any UTF-8 input tokenizes.
    for b in 0..=255u8 {
        add(&mut v, format!("<0x{b:02X}>"), 0.0, TYPE_BYTE);
    }
    // Single characters, then every prefix of every word with SentencePiece's boundary marker,
    // so the bigram merges of the SPM tokenizer can reach whole words.
    let mut pieces: Vec<String> = vec!["\u{2581}".to_owned()];
    pieces.extend((33u8..127).map(|c| char::from(c).to_string()));
    for word in WORDS.split_whitespace() {
        let marked: Vec<char> = std::iter::once('\u{2581}').chain(word.chars()).collect();
        for k in 2..=marked.len() {
            pieces.push(marked[..k].iter().collect());
        }
    }
    let mut seen = HashSet::new();
    for p in pieces {
        if seen.insert(p.clone()) {
            let len = p.chars().count() as f32;
            let score = len - v.tokens.len() as f32 * 1e-4;
            add(&mut v, p, score, TYPE_NORMAL);
        }
    }
    v
}

struct Gauss(StdRng);

impl Gauss {
    /// `n` normal samples with standard deviation `scale` (Box–Muller).
    fn sample(&mut self, n: usize, scale: f32) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let u1: f64 = self.0.gen_range(f64::MIN_POSITIVE..1.0);
            let u2: f64 = self.0.gen();
            let r = (-2.0 * u1.ln()).sqrt();
            let t = std::f64::consts::TAU * u2;
            out.push((r * t.cos()) as f32 * scale);
            if out.len() < n {
                out.push((r * t.sin()) as f32 * scale);
            }
        }
        out
    }

    fn matrix(&mut self, rows: usize, cols: usize) -> Vec<f32> {
        self.sample(rows * cols, (cols as f32).powf(-0.5))
    }
}

impl TinyLlama {
    /// Number of tokens in the generated vocabulary.
    pub fn vocab_size() -> usize {
        vocab().tokens.len()
    }

    /// Builds the GGUF description of the model.
    ///
    /// # Errors
    /// `InvalidInput` when `dim` is not a positive multiple of `heads` or a size is zero.
    pub fn build(&self) -> io::Result<GgufWriter> {
        if self.heads == 0
            || self.dim == 0
            || !self.dim.is_multiple_of(self.heads)
            || self.layers == 0
            || self.ff == 0
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "tiny llama needs positive sizes and dim divisible by heads (dim {}, heads {}, layers {}, ff {})",
                    self.dim, self.heads, self.layers, self.ff
                ),
            ));
        }
        let Vocab {
            tokens,
            scores,
            types,
        } = vocab();
        let (n_vocab, d, ff) = (tokens.len(), self.dim, self.ff);
        let u32_of = |n: usize| GgufValue::U32(u32::try_from(n).unwrap_or(u32::MAX));
        let mut w = GgufWriter::new();
        w.kv("general.architecture", GgufValue::Str("llama".into()))
            .kv("general.name", GgufValue::Str(self.name.clone()))
            .kv(
                "general.description",
                GgufValue::Str(
                    "random weights for tests of engine supervisors; not a real model".into(),
                ),
            )
            .kv("llama.context_length", GgufValue::U32(self.context))
            .kv("llama.embedding_length", u32_of(d))
            .kv("llama.block_count", u32_of(self.layers))
            .kv("llama.feed_forward_length", u32_of(ff))
            .kv("llama.attention.head_count", u32_of(self.heads))
            .kv("llama.attention.head_count_kv", u32_of(self.heads))
            .kv("llama.rope.dimension_count", u32_of(d / self.heads))
            .kv(
                "llama.attention.layer_norm_rms_epsilon",
                GgufValue::F32(1e-5),
            )
            .kv("llama.vocab_size", u32_of(n_vocab))
            .kv("general.file_type", GgufValue::U32(0))
            .kv("tokenizer.ggml.model", GgufValue::Str("llama".into()))
            .kv("tokenizer.ggml.tokens", GgufValue::StrArray(tokens))
            .kv("tokenizer.ggml.scores", GgufValue::F32Array(scores))
            .kv("tokenizer.ggml.token_type", GgufValue::I32Array(types))
            .kv("tokenizer.ggml.unknown_token_id", GgufValue::U32(0))
            .kv("tokenizer.ggml.bos_token_id", GgufValue::U32(1))
            .kv("tokenizer.ggml.eos_token_id", GgufValue::U32(2))
            .kv("tokenizer.ggml.add_bos_token", GgufValue::Bool(true))
            .kv("tokenizer.ggml.add_eos_token", GgufValue::Bool(false))
            .kv("tokenizer.chat_template", GgufValue::Str(CHATML.into()));

        let mut g = Gauss(StdRng::seed_from_u64(self.seed));
        // Output head: special and byte rows are zero so sampling almost always picks a
        // printable word piece; `</s>` keeps a random row, so generation stops now and then.
        let mut output = g.sample(n_vocab * d, 1.0);
        let n_zero = SPECIAL.len() + 256;
        output[..n_zero * d].fill(0.0);
        let eos = g.sample(d, 1.0);
        output[2 * d..3 * d].copy_from_slice(&eos);
        w.tensor(
            "token_embd.weight",
            &[n_vocab, d],
            g.sample(n_vocab * d, 1.0),
        )?
        .tensor("output_norm.weight", &[d], vec![1.0; d])?
        .tensor("output.weight", &[n_vocab, d], output)?;
        for i in 0..self.layers {
            let p = format!("blk.{i}.");
            w.tensor(format!("{p}attn_norm.weight"), &[d], vec![1.0; d])?
                .tensor(format!("{p}attn_q.weight"), &[d, d], g.matrix(d, d))?
                .tensor(format!("{p}attn_k.weight"), &[d, d], g.matrix(d, d))?
                .tensor(format!("{p}attn_v.weight"), &[d, d], g.matrix(d, d))?
                .tensor(format!("{p}attn_output.weight"), &[d, d], g.matrix(d, d))?
                .tensor(format!("{p}ffn_norm.weight"), &[d], vec![1.0; d])?
                .tensor(format!("{p}ffn_gate.weight"), &[ff, d], g.matrix(ff, d))?
                .tensor(format!("{p}ffn_up.weight"), &[ff, d], g.matrix(ff, d))?
                .tensor(format!("{p}ffn_down.weight"), &[d, ff], g.matrix(d, ff))?;
        }
        Ok(w)
    }

    /// Writes the model to `path` (created or replaced).
    ///
    /// # Errors
    /// Invalid parameters, or any I/O error.
    pub fn write_to(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let w = self.build()?;
        let mut out = BufWriter::new(std::fs::File::create(path)?);
        w.write(&mut out)?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_model_is_small_and_deterministic() {
        let mut a = Vec::new();
        TinyLlama::default().build().unwrap().write(&mut a).unwrap();
        let mut b = Vec::new();
        TinyLlama::default().build().unwrap().write(&mut b).unwrap();
        assert_eq!(a, b, "same seed must give the same bytes");
        assert!(a.len() > 500_000 && a.len() < 2_000_000, "size {}", a.len());
        let mut c = Vec::new();
        TinyLlama {
            seed: 1,
            ..TinyLlama::default()
        }
        .build()
        .unwrap()
        .write(&mut c)
        .unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn vocab_has_specials_bytes_and_unique_pieces() {
        let v = vocab();
        assert_eq!(&v.tokens[..5], &SPECIAL.map(str::to_owned));
        assert_eq!(v.tokens[5], "<0x00>");
        assert_eq!(v.tokens[260], "<0xFF>");
        let unique: HashSet<_> = v.tokens.iter().collect();
        assert_eq!(unique.len(), v.tokens.len());
        assert!(v.tokens.iter().any(|t| t == "\u{2581}mountain"));
        assert!(v.tokens.len() > 1000);
    }

    #[test]
    fn bad_shape_is_rejected() {
        assert!(TinyLlama {
            heads: 3,
            ..TinyLlama::default()
        }
        .build()
        .is_err());
    }
}
