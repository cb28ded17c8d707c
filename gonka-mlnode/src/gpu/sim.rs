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

/// Requests in flight on one simulated GPU that make it fully busy: each request in flight adds
/// `100 / SIM_GPU_FULL_AT` percent of utilisation.
pub const SIM_GPU_FULL_AT: u32 = 4;

/// Per simulated device (`0..count`), the requests in flight on it: each task instance's
/// `in_flight` on the devices of its `gpu_ids` (an instance bound to no device, or to ids that
/// are not device indexes, counts on every device), plus `shared` (the node's own engine) on
/// every device.
pub fn in_flight_by_device(count: u32, instances: &[(Vec<String>, u32)], shared: u32) -> Vec<u32> {
    let mut load = vec![shared; count as usize];
    for (gpu_ids, in_flight) in instances {
        let mut devices: Vec<usize> = gpu_ids
            .iter()
            .filter_map(|id| id.trim().parse::<usize>().ok())
            .filter(|&i| i < load.len())
            .collect();
        if devices.is_empty() {
            devices = (0..load.len()).collect();
        }
        for i in devices {
            load[i] = load[i].saturating_add(*in_flight);
        }
    }
    load
}

impl SimulatedGpus {
    /// [`devices`](Self::devices) busy with `in_flight[i]` requests on device `i` (see
    /// [`in_flight_by_device`]): utilisation `min(100, in_flight × 100 / SIM_GPU_FULL_AT)`
    /// percent; missing entries are idle.
    pub fn devices_under(&self, in_flight: &[u32]) -> Vec<GpuDevice> {
        let mut devices = self.devices();
        for d in &mut devices {
            let n = in_flight.get(d.index as usize).copied().unwrap_or(0);
            d.utilization_percent = Some(n.saturating_mul(100 / SIM_GPU_FULL_AT).min(100));
        }
        devices
    }

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
    fn utilisation_follows_the_requests_in_flight_on_each_device() {
        let sim = SimulatedGpus {
            count: 3,
            ..SimulatedGpus::default()
        };
        let instances = vec![
            (vec!["0".to_string()], 2),
            (vec!["1".to_string(), "2".to_string()], 1),
            (Vec::new(), 1),
            (vec!["9".to_string()], 1),
        ];
        // Device 0: 2 + 1 + 1 (two instances bound nowhere it knows) + 1 shared.
        let load = in_flight_by_device(3, &instances, 1);
        assert_eq!(load, vec![5, 4, 4]);
        let used: Vec<Option<u32>> = sim
            .devices_under(&[0, 2, 9])
            .iter()
            .map(|d| d.utilization_percent)
            .collect();
        assert_eq!(used, vec![Some(0), Some(50), Some(100)]);
        assert_eq!(sim.devices_under(&[]).len(), 3, "idle when not given");
    }

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
