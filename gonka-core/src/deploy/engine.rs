//! Which inference engine a GPU vendor runs: the preference chains of placement.

use std::fmt;
use std::str::FromStr;

/// GPU vendors placement knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuVendor {
    /// NVIDIA (CUDA).
    Nvidia,
    /// AMD (ROCm).
    Amd,
    /// Hygon DCU (ROCm-compatible).
    Hygon,
    /// Huawei Ascend NPU.
    Ascend,
    /// Moore Threads (MUSA).
    Musa,
    /// Biren.
    Biren,
}

impl GpuVendor {
    /// Every vendor.
    pub const ALL: [GpuVendor; 6] = [
        GpuVendor::Nvidia,
        GpuVendor::Amd,
        GpuVendor::Hygon,
        GpuVendor::Ascend,
        GpuVendor::Musa,
        GpuVendor::Biren,
    ];

    /// The wire name (`"nvidia"`).
    pub fn as_str(self) -> &'static str {
        match self {
            GpuVendor::Nvidia => "nvidia",
            GpuVendor::Amd => "amd",
            GpuVendor::Hygon => "hygon",
            GpuVendor::Ascend => "ascend",
            GpuVendor::Musa => "musa",
            GpuVendor::Biren => "biren",
        }
    }

    /// The vendor a GPU's marketing name belongs to (`"NVIDIA H100 80GB HBM3"` → NVIDIA), by the
    /// names each vendor's tools report.
    pub fn from_gpu_name(name: &str) -> Option<GpuVendor> {
        let n = name.to_ascii_lowercase();
        let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
        if has(&[
            "nvidia", "geforce", "tesla", "quadro", "rtx", "a100", "h100", "h200", "l40",
        ]) {
            Some(GpuVendor::Nvidia)
        } else if has(&["hygon", "dcu", "z100", "k100"]) {
            Some(GpuVendor::Hygon)
        } else if has(&["amd", "radeon", "instinct", "mi300", "mi250", "mi210"]) {
            Some(GpuVendor::Amd)
        } else if has(&["ascend", "910b", "910", "310p"]) {
            Some(GpuVendor::Ascend)
        } else if has(&["moore", "mthreads", "mtt", "s4000", "s3000"]) {
            Some(GpuVendor::Musa)
        } else if has(&["biren", "br100", "br104"]) {
            Some(GpuVendor::Biren)
        } else {
            None
        }
    }
}

impl fmt::Display for GpuVendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GpuVendor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GpuVendor::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown GPU vendor {s:?}; expected one of nvidia, amd, hygon, ascend, musa, biren"
                )
            })
    }
}

/// The lowest CUDA compute capability vLLM runs on (as `major * 10 + minor`: 7.5 → 75).
pub const VLLM_MIN_CUDA_CAPABILITY: u32 = 75;

/// The engines to try on `vendor`, best first: NVIDIA vllm → sglang → llamacpp (llamacpp only
/// when the compute capability is below [`VLLM_MIN_CUDA_CAPABILITY`]), AMD and Hygon vllm →
/// llamacpp, Ascend mindie, Moore Threads vllm-mtt, Biren llamacpp. `cuda_capability` is
/// `major * 10 + minor` and only matters for NVIDIA; unknown counts as recent enough.
pub fn engine_preference(
    vendor: GpuVendor,
    cuda_capability: Option<u32>,
) -> &'static [&'static str] {
    match vendor {
        GpuVendor::Nvidia => match cuda_capability {
            Some(cc) if cc < VLLM_MIN_CUDA_CAPABILITY => &["llamacpp"],
            _ => &["vllm", "sglang", "llamacpp"],
        },
        GpuVendor::Amd | GpuVendor::Hygon => &["vllm", "llamacpp"],
        GpuVendor::Ascend => &["mindie"],
        GpuVendor::Musa => &["vllm-mtt"],
        GpuVendor::Biren => &["llamacpp"],
    }
}

/// The engine to run on a node of `vendor` that has `available` engines installed: the first of
/// [`engine_preference`] it has, or `requested` when one was asked for and is both available and
/// in the chain. `None` when the node has none of them.
pub fn choose_engine<'a>(
    vendor: GpuVendor,
    cuda_capability: Option<u32>,
    available: &[&'a str],
    requested: Option<&str>,
) -> Option<&'a str> {
    let chain = engine_preference(vendor, cuda_capability);
    if let Some(wanted) = requested {
        return available
            .iter()
            .copied()
            .find(|a| *a == wanted && chain.contains(a));
    }
    chain
        .iter()
        .find_map(|e| available.iter().copied().find(|a| a == e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_follow_the_vendor_table() {
        assert_eq!(
            engine_preference(GpuVendor::Nvidia, None),
            ["vllm", "sglang", "llamacpp"]
        );
        assert_eq!(engine_preference(GpuVendor::Nvidia, Some(60)), ["llamacpp"]);
        assert_eq!(engine_preference(GpuVendor::Nvidia, Some(75))[0], "vllm");
        assert_eq!(
            engine_preference(GpuVendor::Amd, None),
            ["vllm", "llamacpp"]
        );
        assert_eq!(
            engine_preference(GpuVendor::Hygon, None),
            ["vllm", "llamacpp"]
        );
        assert_eq!(engine_preference(GpuVendor::Ascend, None), ["mindie"]);
        assert_eq!(engine_preference(GpuVendor::Musa, None), ["vllm-mtt"]);
        assert_eq!(engine_preference(GpuVendor::Biren, None), ["llamacpp"]);
    }

    #[test]
    fn choice_takes_the_best_installed_engine() {
        let nv = GpuVendor::Nvidia;
        assert_eq!(
            choose_engine(nv, None, &["llamacpp", "sglang"], None),
            Some("sglang")
        );
        assert_eq!(
            choose_engine(nv, Some(60), &["vllm", "llamacpp"], None),
            Some("llamacpp")
        );
        assert_eq!(choose_engine(nv, Some(60), &["vllm"], None), None);
        assert_eq!(
            choose_engine(nv, None, &["vllm", "sglang"], Some("sglang")),
            Some("sglang")
        );
        assert_eq!(
            choose_engine(GpuVendor::Ascend, None, &["vllm"], Some("vllm")),
            None
        );
    }

    #[test]
    fn vendors_from_names_and_wire() {
        assert_eq!(
            GpuVendor::from_gpu_name("NVIDIA H100 80GB HBM3"),
            Some(GpuVendor::Nvidia)
        );
        assert_eq!(
            GpuVendor::from_gpu_name("AMD Instinct MI300X"),
            Some(GpuVendor::Amd)
        );
        assert_eq!(
            GpuVendor::from_gpu_name("Hygon DCU K100_AI"),
            Some(GpuVendor::Hygon)
        );
        assert_eq!(
            GpuVendor::from_gpu_name("Ascend910B3"),
            Some(GpuVendor::Ascend)
        );
        assert_eq!(GpuVendor::from_gpu_name("MTT S4000"), Some(GpuVendor::Musa));
        assert_eq!(GpuVendor::from_gpu_name("Intel Arc"), None);
        assert_eq!("NVIDIA".parse::<GpuVendor>(), Ok(GpuVendor::Nvidia));
        assert!("intel".parse::<GpuVendor>().unwrap_err().contains("intel"));
    }
}
