//! Simulated GPUs (`--sim-gpus`): N identical devices reported instead of the host's, so that
//! placement, co-scheduling and preemption can be exercised on machines without GPUs.

use gonka_core::deploy::GpuVendor;

use super::GpuDevice;

/// The name simulated devices get by default.
pub const DEFAULT_SIM_GPU_NAME: &str = "NVIDIA A100-SXM4-80GB";

/// The memory of a simulated device by default, in MiB.
pub const DEFAULT_SIM_GPU_MEMORY_MB: u64 = 81_920;

/// `count` simulated devices, all alike: `name`, `vendor`, `memory_mb` MiB each, all free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatedGpus {
    /// How many devices (0: none simulated, the host's are detected).
    pub count: u32,
    /// Marketing name of every device, e.g. [`DEFAULT_SIM_GPU_NAME`].
    pub name: String,
    /// Vendor of every device.
    pub vendor: GpuVendor,
    /// Total memory of every device in MiB.
    pub memory_mb: u64,
}

impl Default for SimulatedGpus {
    /// One device: [`DEFAULT_SIM_GPU_NAME`], NVIDIA, [`DEFAULT_SIM_GPU_MEMORY_MB`].
    fn default() -> Self {
        Self {
            count: 1,
            name: DEFAULT_SIM_GPU_NAME.to_owned(),
            vendor: GpuVendor::Nvidia,
            memory_mb: DEFAULT_SIM_GPU_MEMORY_MB,
        }
    }
}

impl SimulatedGpus {
    /// The devices, indexed `0..count`: available, all memory free, no utilisation, no
    /// temperature (nothing measured), `vendor` set.
    pub fn devices(&self) -> Vec<GpuDevice> {
        (0..self.count)
            .map(|index| GpuDevice {
                index,
                name: self.name.clone(),
                total_memory_mb: self.memory_mb,
                free_memory_mb: self.memory_mb,
                used_memory_mb: 0,
                utilization_percent: Some(0),
                temperature_c: None,
                is_available: true,
                error_message: None,
                vendor: Some(self.vendor.as_str().to_owned()),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_indexed_and_carry_name_vendor_and_memory() {
        let sim = SimulatedGpus {
            count: 3,
            name: "AMD Instinct MI300X".into(),
            vendor: GpuVendor::Amd,
            memory_mb: 196_608,
        };
        let devices = sim.devices();
        assert_eq!(devices.len(), 3);
        for (i, d) in devices.iter().enumerate() {
            assert_eq!(d.index as usize, i);
            assert_eq!(d.name, "AMD Instinct MI300X");
            assert_eq!(d.vendor.as_deref(), Some("amd"));
            assert_eq!(
                (d.total_memory_mb, d.free_memory_mb, d.used_memory_mb),
                (196_608, 196_608, 0)
            );
            assert!(d.is_available);
        }
        assert!(SimulatedGpus { count: 0, ..sim }.devices().is_empty());
    }
}
