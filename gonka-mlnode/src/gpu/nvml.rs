//! NVIDIA GPUs through NVML, loaded at run time (`libnvidia-ml.so`): a machine without an NVIDIA
//! driver answers no device, never an error.

use std::sync::OnceLock;

use nvml_wrapper::Nvml;

use super::{DriverInfo, GpuDevice, MIB};

fn nvml() -> Option<&'static Nvml> {
    static NVML: OnceLock<Option<Nvml>> = OnceLock::new();
    NVML.get_or_init(|| match Nvml::init() {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::info!(error = %e, "NVML not available: no NVIDIA GPUs");
            None
        }
    })
    .as_ref()
}

/// Every NVIDIA GPU NVML sees (none without NVML). Blocking.
pub(super) fn devices() -> Vec<GpuDevice> {
    let Some(nvml) = nvml() else {
        return Vec::new();
    };
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "NVML device count failed");
            return Vec::new();
        }
    };
    (0..count)
        .map(|index| match nvml.device_by_index(index) {
            Ok(device) => {
                let name = device.name().unwrap_or_else(|_| format!("GPU {index}"));
                match device.memory_info() {
                    Ok(mem) => GpuDevice {
                        index,
                        name,
                        total_memory_mb: mem.total / MIB,
                        free_memory_mb: mem.free / MIB,
                        used_memory_mb: mem.used / MIB,
                        utilization_percent: device.utilization_rates().ok().map(|u| u.gpu),
                        temperature_c: device
                            .temperature(
                                nvml_wrapper::enum_wrappers::device::TemperatureSensor::Gpu,
                            )
                            .ok(),
                        is_available: true,
                        error_message: None,
                        vendor: Some("nvidia".to_owned()),
                    },
                    Err(e) => unavailable(index, name, e.to_string()),
                }
            }
            Err(e) => unavailable(index, format!("GPU {index}"), e.to_string()),
        })
        .collect()
}

/// A device NVML lists but cannot query.
pub(super) fn unavailable(index: u32, name: String, error: String) -> GpuDevice {
    GpuDevice {
        index,
        name,
        total_memory_mb: 0,
        free_memory_mb: 0,
        used_memory_mb: 0,
        utilization_percent: None,
        temperature_c: None,
        is_available: false,
        error_message: Some(error),
        vendor: Some("nvidia".to_owned()),
    }
}

/// Driver and CUDA versions (all `None`, `nvml_available: false` without NVML). Blocking.
pub(super) fn driver() -> DriverInfo {
    let Some(nvml) = nvml() else {
        return DriverInfo::default();
    };
    DriverInfo {
        driver_version: nvml.sys_driver_version().ok(),
        cuda_driver_version: nvml
            .sys_cuda_driver_version()
            .ok()
            .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10)),
        nvml_version: nvml.sys_nvml_version().ok(),
        nvml_available: true,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::gpu::GpuReport;

    #[test]
    fn report_serializes_with_upstream_field_names() {
        let report = GpuReport::new(vec![
            GpuDevice {
                index: 0,
                name: "NVIDIA H100 80GB HBM3".into(),
                total_memory_mb: 81559,
                free_memory_mb: 81000,
                used_memory_mb: 559,
                utilization_percent: Some(3),
                temperature_c: Some(31),
                is_available: true,
                error_message: None,
                vendor: None,
            },
            unavailable(1, "GPU 1".into(), "Unknown Error".into()),
        ]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "devices": [
                    {"index": 0, "name": "NVIDIA H100 80GB HBM3", "total_memory_mb": 81559,
                     "free_memory_mb": 81000, "used_memory_mb": 559, "utilization_percent": 3,
                     "temperature_c": 31, "is_available": true, "error_message": null},
                    {"index": 1, "name": "GPU 1", "total_memory_mb": 0, "free_memory_mb": 0,
                     "used_memory_mb": 0, "utilization_percent": null, "temperature_c": null,
                     "is_available": false, "error_message": "Unknown Error",
                     "vendor": "nvidia"}
                ],
                "count": 2
            })
        );
    }
}
