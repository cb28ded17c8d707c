//! The host's GPUs, as `GET /api/v1/gpu/devices` and `/health` report them.
//!
//! Detection order ([`detect`]): NVIDIA through NVML (loaded at run time, `libnvidia-ml.so`);
//! when NVML lists no device, each vendor's command-line tool found on `PATH` or in
//! [`VENDOR_TOOL_DIRS`], in this order: `hy-smi` (Hygon DCU), `rocm-smi` (AMD), `npu-smi info`
//! (Huawei Ascend), `mthreads-gmi` (Moore Threads). Each tool runs on the calling (blocking)
//! thread with a timeout ([`CLI_TIMEOUT`]); the first one whose output lists a device gives the
//! report, with `vendor` set, and its answer is reused for 5 s. A host with none of them
//! reports an empty list, never an error.
//!
//! [`SimulatedGpus`] replaces detection with N identical devices (`--sim-gpus`), so that
//! placement can be tried without GPUs; [`report`] chooses between the two.

use std::ffi::OsStr;
use std::time::Duration;

pub use gonka_core::mlnode_api::{DriverInfo, GpuDevice, GpuReport};

mod ascend;
mod cli;
mod musa;
mod nvml;
#[cfg(test)]
mod parse_tests;
mod rocm;
mod sim;
mod units;

pub use sim::{
    in_flight_by_device, SimulatedGpus, DEFAULT_SIM_GPU_MEMORY_MB, DEFAULT_SIM_GPU_NAME,
    SIM_GPU_FULL_AT,
};

const MIB: u64 = 1024 * 1024;

/// How long one vendor tool may run before it is killed and counted as reporting nothing.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the vendors install their tools, searched after `PATH` (a service's `PATH` often
/// lacks them): ROCm, Hygon's hyhal, Ascend's driver (`npu-smi` in `/usr/local/sbin`).
pub const VENDOR_TOOL_DIRS: [&str; 4] = [
    "/opt/rocm/bin",
    "/opt/hyhal/bin",
    "/usr/local/hyhal/bin",
    "/usr/local/sbin",
];

/// The host's GPUs: NVML's, else those of the first vendor tool on this process's `PATH` (then
/// [`VENDOR_TOOL_DIRS`]) that lists any, else none. Blocking (NVML calls, child processes): run
/// it on a blocking thread.
pub fn detect() -> GpuReport {
    detect_on_path(search_path().as_deref(), CLI_TIMEOUT)
}

/// This process's `PATH` followed by [`VENDOR_TOOL_DIRS`] (`PATH` alone when they cannot be
/// joined to it).
fn search_path() -> Option<std::ffi::OsString> {
    let path = std::env::var_os("PATH");
    let mut dirs: Vec<std::path::PathBuf> = path
        .as_deref()
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    dirs.extend(VENDOR_TOOL_DIRS.iter().map(std::path::PathBuf::from));
    std::env::join_paths(dirs).ok().or(path)
}

/// [`detect`] with the vendor tools looked up in `path` (a `PATH`-style list; `None`: no
/// tool) and each given `timeout`.
pub fn detect_on_path(path: Option<&OsStr>, timeout: Duration) -> GpuReport {
    let nvidia = nvml::devices();
    if !nvidia.is_empty() {
        return GpuReport::new(nvidia);
    }
    GpuReport::new(cli::detect(path, timeout))
}

/// Only the vendor tools of [`detect_on_path`], without NVML: the devices of the first tool in
/// `path` whose output lists any (empty when none does).
pub fn detect_vendor_tools(path: Option<&OsStr>, timeout: Duration) -> GpuReport {
    GpuReport::new(cli::detect(path, timeout))
}

/// What the node reports: the `simulated` devices when there are any (`count > 0`), else
/// [`detect`]. Blocking.
pub fn report(simulated: Option<&SimulatedGpus>) -> GpuReport {
    match simulated.filter(|s| s.count > 0) {
        Some(sim) => GpuReport::new(sim.devices()),
        None => detect(),
    }
}

/// NVIDIA driver and CUDA versions (all `None`, `nvml_available: false` without NVML).
/// Blocking.
pub fn driver() -> DriverInfo {
    nvml::driver()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_never_fails_and_count_matches_devices() {
        let report = detect();
        assert_eq!(report.count, report.devices.len());
    }

    #[test]
    fn vendor_directories_are_searched_after_the_path() {
        let dirs: Vec<_> = std::env::split_paths(&search_path().unwrap_or_default()).collect();
        let path: Vec<_> =
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
        assert!(dirs.starts_with(&path));
        assert!(dirs.ends_with(&VENDOR_TOOL_DIRS.map(std::path::PathBuf::from)));
    }

    #[test]
    fn without_a_path_no_vendor_tool_is_run() {
        assert!(detect_vendor_tools(None, CLI_TIMEOUT).devices.is_empty());
    }

    #[test]
    fn simulated_devices_replace_detection_only_when_there_are_some() {
        let sim = SimulatedGpus {
            count: 2,
            ..SimulatedGpus::default()
        };
        let simulated = report(Some(&sim));
        assert_eq!(simulated.count, 2);
        assert!(simulated
            .devices
            .iter()
            .all(|d| d.vendor.as_deref() == Some("nvidia")));
        let none = SimulatedGpus {
            count: 0,
            ..SimulatedGpus::default()
        };
        assert_eq!(report(Some(&none)).count, detect().count);
    }
}
