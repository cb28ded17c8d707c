//! # gonka-mlnode
//!
//! The ML node agent that runs on every GPU server: the Gonka-compatible management API, the
//! supervisor of inference engine processes (vLLM, SGLang, llama.cpp), the in-process simulator
//! engine, GPU detection and the inference proxy; plus the `gonka-mlnode` binary.
