//! vLLM flags in an `inference/up`'s `additional_args`, adapted for llama.cpp's `llama-server`.
//!
//! Upstream's network node sends each model's engine arguments as the chain configures them,
//! which are vLLM flags (`--tensor-parallel-size 4 --max-model-len 32768 --quantization fp8 …`).
//! `llama-server` stops at the first flag it does not know (`error: invalid argument:
//! --tensor-parallel-size`), so an ML node running llama.cpp under an upstream network node would
//! fail every `up`. [`for_llamacpp`] rewrites the vLLM flags that have a llama.cpp equivalent
//! (`--max-model-len N` → `--ctx-size N`, `--max-num-seqs N` → `--parallel N`, `--seed N`), drops
//! the ones that only tune vLLM (parallelism, quantization, memory, parsers, attention backend:
//! the GGUF file already fixes the weights' format), and passes every other argument through
//! unchanged, so llama.cpp's own flags (`-c 2048`, `-np 2`) still work.

/// What becomes of one vLLM flag on llama.cpp.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// The same value under llama.cpp's name.
    Rename(&'static str),
    /// No llama.cpp equivalent: left out.
    Drop,
}

/// A vLLM flag: its name, whether it takes a value, and its llama.cpp rule.
#[derive(Debug, Clone, Copy)]
struct VllmFlag {
    name: &'static str,
    takes_value: bool,
    rule: Rule,
}

const fn value(name: &'static str, rule: Rule) -> VllmFlag {
    VllmFlag {
        name,
        takes_value: true,
        rule,
    }
}

const fn switch(name: &'static str) -> VllmFlag {
    VllmFlag {
        name,
        takes_value: false,
        rule: Rule::Drop,
    }
}

/// The vLLM flags the chain's model configurations use (and their common neighbours).
const VLLM_FLAGS: &[VllmFlag] = &[
    value("--max-model-len", Rule::Rename("--ctx-size")),
    value("--max-num-seqs", Rule::Rename("--parallel")),
    value("--seed", Rule::Rename("--seed")),
    value("--tensor-parallel-size", Rule::Drop),
    value("--pipeline-parallel-size", Rule::Drop),
    value("--data-parallel-size", Rule::Drop),
    value("--gpu-memory-utilization", Rule::Drop),
    value("--quantization", Rule::Drop),
    value("--kv-cache-dtype", Rule::Drop),
    value("--dtype", Rule::Drop),
    value("--tool-call-parser", Rule::Drop),
    value("--reasoning-parser", Rule::Drop),
    value("--mm-encoder-tp-mode", Rule::Drop),
    value("--attention-backend", Rule::Drop),
    value("--max-num-batched-tokens", Rule::Drop),
    value("--swap-space", Rule::Drop),
    value("--block-size", Rule::Drop),
    value("--served-model-name", Rule::Drop),
    value("--distributed-executor-backend", Rule::Drop),
    switch("--enable-expert-parallel"),
    switch("--enable-auto-tool-choice"),
    switch("--trust-remote-code"),
    switch("--enforce-eager"),
    switch("--enable-prefix-caching"),
    switch("--enable-chunked-prefill"),
    switch("--disable-log-requests"),
    switch("--disable-log-stats"),
];

/// Arguments for llama.cpp, and the vLLM flags left out (with their values), for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adapted {
    /// What `llama-server` is given, in order.
    pub args: Vec<String>,
    /// vLLM flags without a llama.cpp equivalent, as they were given (`--quantization fp8`).
    pub dropped: Vec<String>,
}

/// `args` with vLLM's flags rewritten or dropped for `llama-server` (see the module docs); both
/// `--flag value` and `--flag=value` forms are understood. Any other argument is kept as is.
pub fn for_llamacpp(args: &[String]) -> Adapted {
    let mut out = Adapted::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, v)) if name.starts_with("--") => (name, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let Some(flag) = VLLM_FLAGS.iter().find(|f| f.name == name) else {
            out.args.push(arg.clone());
            continue;
        };
        let given = if flag.takes_value {
            inline.or_else(|| rest.next().cloned())
        } else {
            None
        };
        match (flag.rule, given) {
            (Rule::Rename(to), Some(v)) => out.args.extend([to.to_owned(), v]),
            (_, Some(v)) => out.dropped.push(format!("{name} {v}")),
            (_, None) => out.dropped.push(name.to_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_chains_vllm_arguments_become_llamacpp_ones() {
        // Upstream's join configuration for Qwen3-235B on B200s, as the network node sends it.
        let given = strings(&[
            "--quantization",
            "fp8",
            "--tensor-parallel-size",
            "4",
            "--max-model-len=32768",
            "--kv-cache-dtype",
            "fp8",
            "--enable-auto-tool-choice",
            "--tool-call-parser",
            "hermes",
            "--max-num-seqs",
            "8",
        ]);
        let adapted = for_llamacpp(&given);
        assert_eq!(
            adapted.args,
            strings(&["--ctx-size", "32768", "--parallel", "8"])
        );
        assert_eq!(
            adapted.dropped,
            strings(&[
                "--quantization fp8",
                "--tensor-parallel-size 4",
                "--kv-cache-dtype fp8",
                "--enable-auto-tool-choice",
                "--tool-call-parser hermes",
            ])
        );
    }

    #[test]
    fn llamacpps_own_flags_pass_through_in_order() {
        let given = strings(&["-c", "2048", "-np", "2", "--metrics", "--ctx-size=4096"]);
        let adapted = for_llamacpp(&given);
        assert_eq!(adapted.args, given);
        assert!(adapted.dropped.is_empty());
    }

    #[test]
    fn a_value_flag_at_the_end_without_its_value_is_dropped_by_name() {
        let adapted = for_llamacpp(&strings(&["-t", "1", "--tensor-parallel-size"]));
        assert_eq!(adapted.args, strings(&["-t", "1"]));
        assert_eq!(adapted.dropped, strings(&["--tensor-parallel-size"]));
    }
}
