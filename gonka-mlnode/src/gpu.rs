//! GPU detection through NVML, loaded at run time (`libnvidia-ml.so`): a machine without an
//! NVIDIA driver answers an empty device list, never an error.

use std::sync::OnceLock;

use nvml_wrapper::Nvml;

pub use gonka_core::mlnode_api::{DriverInfo, GpuDevice, GpuReport};

fn nvml() -> Option<&'static Nvml> {
    static NVML: OnceLock<Option<Nvml>> = OnceLock::new();
    NVML.get_or_init(|| match Nvml::init() {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::info!(error = %e, "NVML not available: reporting no GPUs");
            None
        }
    })
    .as_ref()
}

const MIB: u64 = 1024 * 1024;

/// Queries every GPU. Blocking (NVML calls): run it on a blocking thread.
pub fn detect() -> GpuReport {
    let Some(nvml) = nvml() else {
        return GpuReport::new(Vec::new());
    };
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "NVML device count failed");
            return GpuReport::new(Vec::new());
        }
    };
    let devices = (0..count)
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
        .collect();
    GpuReport::new(devices)
}

fn unavailable(index: u32, name: String, error: String) -> GpuDevice {
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

/// Driver and CUDA versions. Blocking.
pub fn driver() -> DriverInfo {
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
    use super::*;

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

    #[test]
    fn detection_never_fails_and_count_matches_devices() {
        let report = detect();
        assert_eq!(report.count, report.devices.len());
    }
}
