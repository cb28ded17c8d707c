//! `gpu/devices`, `gpu/driver`, `models/list` and `models/space`.

use serde::{Deserialize, Serialize};

/// One GPU as `GET /api/v1/gpu/devices` reports it (upstream field names). Missing fields
/// decode as zero, empty or `None`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuDevice {
    /// NVML index.
    pub index: u32,
    /// Marketing name, e.g. `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// Total memory in MiB.
    pub total_memory_mb: u64,
    /// Free memory in MiB.
    pub free_memory_mb: u64,
    /// Used memory in MiB.
    pub used_memory_mb: u64,
    /// GPU utilisation in percent, when NVML reports it.
    pub utilization_percent: Option<u32>,
    /// Temperature in °C, when NVML reports it.
    pub temperature_c: Option<u32>,
    /// Whether the device could be queried.
    pub is_available: bool,
    /// Why the device could not be (fully) queried.
    pub error_message: Option<String>,
    /// The vendor (`nvidia`, `amd`, `hygon`, `ascend`, `musa`, `biren`), when the node knows it;
    /// absent from upstream's ML node, whose devices are NVIDIA's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
}

/// `GET /api/v1/gpu/devices`: `{"devices": [...], "count": n}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuReport {
    /// Devices in index order.
    pub devices: Vec<GpuDevice>,
    /// `devices.len()`.
    pub count: usize,
}

impl GpuReport {
    /// A report of `devices`.
    pub fn new(devices: Vec<GpuDevice>) -> Self {
        Self {
            count: devices.len(),
            devices,
        }
    }

    /// The first non-empty device name.
    pub fn gpu_type(&self) -> Option<&str> {
        self.devices
            .iter()
            .map(|d| d.name.as_str())
            .find(|n| !n.is_empty())
    }

    /// The smallest reported total memory in MiB (devices reporting none are skipped).
    pub fn min_total_memory_mb(&self) -> Option<u64> {
        self.devices
            .iter()
            .map(|d| d.total_memory_mb)
            .filter(|&m| m > 0)
            .min()
    }
}

/// `GET /api/v1/gpu/driver`: upstream's `{driver_version, cuda_driver_version, nvml_version}`
/// plus `nvml_available`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriverInfo {
    /// NVIDIA driver version, `None` without NVML.
    pub driver_version: Option<String>,
    /// CUDA driver version as `major.minor`, `None` without NVML (`cuda_version` before
    /// gonka-mlnode followed upstream's name; still accepted when decoding).
    #[serde(alias = "cuda_version")]
    pub cuda_driver_version: Option<String>,
    /// NVML library version, `None` without NVML.
    pub nvml_version: Option<String>,
    /// Whether NVML could be loaded.
    pub nvml_available: bool,
}

/// Space of the file system holding a directory (`GET /api/v1/models/space`): upstream's
/// `{cache_size_gb, available_gb, cache_path}` plus byte counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiskSpace {
    /// Size of the model cache in GB (10^9 bytes), upstream's name.
    pub cache_size_gb: f64,
    /// Space available to the cache in GB (10^9 bytes), upstream's name.
    pub available_gb: f64,
    /// The cache directory, upstream's name (the same as `path`).
    pub cache_path: String,
    /// The directory asked about.
    pub path: String,
    /// Total bytes.
    pub total_bytes: u64,
    /// Bytes free for unprivileged users.
    pub available_bytes: u64,
    /// Bytes used.
    pub used_bytes: u64,
}

/// `GET /api/v1/models/list`: upstream's `{models: [{model: {hf_repo, hf_commit}, status}]}`
/// plus our `count`, `cache_dir` and `disk`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelsList {
    /// Every revision in the hub cache and every configured GGUF file.
    pub models: Vec<super::ModelListItem>,
    /// `models.len()`.
    pub count: usize,
    /// The model cache directory searched.
    pub cache_dir: String,
    /// Disk space of the cache, `None` when it could not be read.
    pub disk: Option<DiskSpace>,
}
