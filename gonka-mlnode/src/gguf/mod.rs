//! GGUF v3 files: a small writer, and a generator of tiny random-weight llama models.
//!
//! The tiny model lets tests and the devnet run a real llama.cpp `llama-server` on CPU without
//! downloading weights: [`TinyLlama::default().write_to(path)`](TinyLlama::write_to) writes a
//! ~1.2 MB F32 llama GGUF (2 layers, dim 64, a SentencePiece-style vocabulary of ~1,600 pieces
//! with byte fallback and a ChatML template) in well under a second. Its output is random word
//! pieces, deterministic for a given seed and `temperature: 0`.

mod tiny_llama;
mod words;
mod writer;

pub use tiny_llama::TinyLlama;
pub use writer::{GgufValue, GgufWriter};
