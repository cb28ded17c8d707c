//! How much GPU memory a model needs: weights from its size and data type, plus the KV cache for
//! its context and batch, plus a fixed overhead per GPU.
//!
//! ```text
//! weights_bytes   = params × bytes_per_param(dtype)
//! hidden          = (params × 128 / 12)^(1/3)      when not given (dense transformer,
//! layers          = hidden / 128                    params ≈ 12·layers·hidden², hidden/layers ≈ 128)
//! kv_bytes        = 2 · layers · hidden · (kv_heads / heads) · context · batch · kv_bytes_per_value
//! per_gpu_mib     = ((weights_bytes + kv_bytes) · 1.10) / tensor_parallel / MiB + 512
//! ```
//!
//! The 10 % covers activations and allocator slack; 512 MiB is the engine's CUDA/ROCm context on
//! each GPU. Mixture-of-experts models count all their parameters (every expert is resident).

/// Weight and KV data types, by bytes per value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dtype {
    /// 32-bit floats (4 bytes).
    Fp32,
    /// 16-bit floats, fp16 or bf16 (2 bytes).
    Fp16,
    /// 8-bit floats or integers (1 byte).
    Fp8,
    /// 4-bit quantisation: AWQ, GPTQ, GGUF Q4 (0.5 byte, plus scales: 0.5625).
    Int4,
}

impl Dtype {
    /// Bytes each value takes.
    pub fn bytes(self) -> f64 {
        match self {
            Dtype::Fp32 => 4.0,
            Dtype::Fp16 => 2.0,
            Dtype::Fp8 => 1.0,
            Dtype::Int4 => 0.5625,
        }
    }

    /// The data type a model name announces (`-FP8`, `-AWQ`, `-GPTQ-Int4`, `w8a16`, `Q4_K_M`,
    /// `Q8_0`), or fp16 when it announces none.
    pub fn from_model_name(name: &str) -> Dtype {
        let n = name.to_ascii_lowercase();
        let has = |w: &str| n.contains(w);
        if has("fp8") || has("int8") || has("w8a") || has("q8_") {
            Dtype::Fp8
        } else if has("awq") || has("gptq") || has("int4") || has("w4a") || has("q4_") || has("q5_")
        {
            Dtype::Int4
        } else if has("fp32") || has("f32") {
            Dtype::Fp32
        } else {
            Dtype::Fp16
        }
    }
}

/// Parameter count a model name announces: `7B`, `0.5B`, `235B-A22B` (all 235 billion resident),
/// `8x7B` (56 billion), `135M`. `None` when the name has no size.
pub fn params_from_model_name(name: &str) -> Option<u64> {
    let lower = name.to_ascii_lowercase();
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    let mut best: Option<u64> = None;
    // Scan for <number>[x<number>](b|m) with a non-alphanumeric boundary before and after.
    let bytes = base.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric() && bytes[i - 1] != b'.';
        if boundary && bytes[i].is_ascii_digit() {
            if let Some((value, end)) = size_at(base, i) {
                // The first size wins (`235b-a22b`: the total, not the active parameters).
                if best.is_none() {
                    best = Some(value);
                }
                i = end;
                continue;
            }
        }
        i += 1;
    }
    best
}

/// The size starting at `start`: `(params, end)`.
fn size_at(s: &str, start: usize) -> Option<(u64, usize)> {
    let rest = &s[start..];
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let mut value: f64 = rest[..num_end].parse().ok()?;
    let mut after = &rest[num_end..];
    let mut consumed = num_end;
    if let Some(tail) = after.strip_prefix('x') {
        let end = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        let experts = value;
        value = experts * tail[..end].parse::<f64>().ok()?;
        after = &tail[end..];
        consumed += 1 + end;
    }
    let scale = match after.as_bytes().first() {
        Some(b'b') => 1e9,
        Some(b'm') => 1e6,
        Some(b't') => 1e12,
        _ => return None,
    };
    let next = after.as_bytes().get(1);
    if next.is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(((value * scale) as u64, start + consumed + 1))
}

/// What the estimate needs; the shape fields are optional (derived from `params` when absent).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VramInput {
    /// Parameter count.
    pub params: u64,
    /// Data type of the weights.
    pub dtype: Dtype,
    /// Data type of the KV cache (fp16 unless the engine quantises it).
    pub kv_dtype: Dtype,
    /// Transformer layers, when known.
    pub layers: Option<u32>,
    /// Hidden size, when known.
    pub hidden_size: Option<u32>,
    /// Attention heads and key/value heads, when known (grouped-query attention shrinks the
    /// cache by `kv_heads / heads`).
    pub heads: Option<(u32, u32)>,
    /// Context window in tokens.
    pub context: u32,
    /// Sequences the engine holds at once.
    pub batch: u32,
    /// GPUs the model is split over (tensor parallelism); at least 1.
    pub tensor_parallel: u32,
}

impl VramInput {
    /// An input for a model by name (size and dtype read from the name), with `context` tokens,
    /// `batch` sequences and `tensor_parallel` GPUs. `None` when the name announces no size.
    pub fn for_model_name(
        name: &str,
        context: u32,
        batch: u32,
        tensor_parallel: u32,
    ) -> Option<Self> {
        Some(Self {
            params: params_from_model_name(name)?,
            dtype: Dtype::from_model_name(name),
            kv_dtype: Dtype::Fp16,
            layers: None,
            hidden_size: None,
            heads: None,
            context,
            batch,
            tensor_parallel,
        })
    }
}

/// Fixed memory each GPU gives the engine's runtime context, in MiB.
pub const CONTEXT_OVERHEAD_MIB: u64 = 512;

const MIB: f64 = 1024.0 * 1024.0;

/// The estimated memory per GPU in MiB (formula in the module docs).
pub fn estimate_mib(input: &VramInput) -> u64 {
    let params = input.params as f64;
    let hidden = input
        .hidden_size
        .map(f64::from)
        .unwrap_or_else(|| (params * 128.0 / 12.0).cbrt());
    let layers = input
        .layers
        .map(f64::from)
        .unwrap_or_else(|| (hidden / 128.0).round().max(1.0));
    let kv_ratio = match input.heads {
        Some((heads, kv_heads)) if heads > 0 => f64::from(kv_heads.min(heads)) / f64::from(heads),
        _ => 1.0,
    };
    let weights = params * input.dtype.bytes();
    let kv = 2.0
        * layers
        * hidden
        * kv_ratio
        * f64::from(input.context)
        * f64::from(input.batch.max(1))
        * input.kv_dtype.bytes();
    let per_gpu = (weights + kv) * 1.10 / f64::from(input.tensor_parallel.max(1)) / MIB;
    per_gpu.ceil() as u64 + CONTEXT_OVERHEAD_MIB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_names() {
        let p = params_from_model_name;
        assert_eq!(p("Qwen/Qwen2.5-7B-Instruct"), Some(7_000_000_000));
        assert_eq!(p("Qwen/Qwen2.5-0.5B"), Some(500_000_000));
        assert_eq!(
            p("Qwen/Qwen3-235B-A22B-Instruct-2507-FP8"),
            Some(235_000_000_000)
        );
        assert_eq!(p("mistralai/Mixtral-8x7B-v0.1"), Some(56_000_000_000));
        assert_eq!(p("HuggingFaceTB/SmolLM2-135M"), Some(135_000_000));
        assert_eq!(p("llama3.3:70b"), Some(70_000_000_000));
        assert_eq!(p("Qwen/QwQ-32B"), Some(32_000_000_000));
        assert_eq!(p("gpt2"), None);
        assert_eq!(p("model-v2-bf16"), None);
    }

    #[test]
    fn dtypes_from_names() {
        assert_eq!(Dtype::from_model_name("Qwen/Qwen3-32B-FP8"), Dtype::Fp8);
        assert_eq!(
            Dtype::from_model_name("RedHatAI/Qwen2.5-7B-Instruct-quantized.w8a16"),
            Dtype::Fp8
        );
        assert_eq!(
            Dtype::from_model_name("Qwen/Qwen2.5-7B-Instruct-AWQ"),
            Dtype::Int4
        );
        assert_eq!(Dtype::from_model_name("tiny.Q4_K_M.gguf"), Dtype::Int4);
        assert_eq!(
            Dtype::from_model_name("Qwen/Qwen2.5-7B-Instruct"),
            Dtype::Fp16
        );
    }

    #[test]
    fn a_7b_fp16_model_with_4k_context_needs_about_16_gib() {
        let input = VramInput::for_model_name("Qwen/Qwen2.5-7B-Instruct", 4096, 1, 1).unwrap();
        let mib = estimate_mib(&input);
        // 14 GB of weights + ~2 GiB of KV at 4k tokens, +10 %, +512 MiB.
        assert!((16_000..19_000).contains(&mib), "{mib}");
    }

    #[test]
    fn grouped_query_attention_and_tensor_parallelism_shrink_the_estimate() {
        let base = VramInput::for_model_name("llama3.3:70b", 32_768, 4, 1).unwrap();
        let mha = estimate_mib(&base);
        let gqa = estimate_mib(&VramInput {
            heads: Some((64, 8)),
            ..base.clone()
        });
        assert!(gqa < mha);
        let tp4 = estimate_mib(&VramInput {
            tensor_parallel: 4,
            ..base.clone()
        });
        let quarter = (mha - CONTEXT_OVERHEAD_MIB).div_ceil(4);
        assert!(
            (tp4 - CONTEXT_OVERHEAD_MIB).abs_diff(quarter) <= 1,
            "{tp4} vs {quarter}"
        );
        let fp8 = estimate_mib(&VramInput {
            dtype: Dtype::Fp8,
            ..base
        });
        assert!(fp8 < mha);
    }

    #[test]
    fn estimate_grows_with_context_and_batch() {
        let at = |ctx, batch| {
            estimate_mib(
                &VramInput::for_model_name("Qwen/Qwen2.5-7B-Instruct", ctx, batch, 1).unwrap(),
            )
        };
        assert!(at(8192, 1) > at(4096, 1));
        assert!(at(4096, 8) > at(4096, 1));
    }
}
