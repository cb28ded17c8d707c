//! `mthreads-gmi` (Moore Threads, MUSA): a table of three-line device blocks,
//!
//! ```text
//! ID   Name                 |PCIe                |%GPU  Mem
//!      Device Type   Perf   |Pcie Lane Width     |Temp  MPC Capable
//!                                                |      ECC Mode
//! +-------------------------------------------------------------------+
//! 0    MTT S5000            |00000000:2a:00.0    |0%    66641MiB(81920MiB)
//!      Physical      P0     |16x(16x)            |52C   YES
//!                                                |      On-die, EDC
//! ```
//!
//! then a `Processes:` table, which is not read. The first line of a block gives index, name,
//! utilisation and used(total) memory; the next one the temperature.

use super::{units, GpuDevice};

/// Devices in `mthreads-gmi` output, vendor `musa`.
pub(super) fn parse_mthreads_gmi(output: &str) -> Vec<GpuDevice> {
    let mut devices: Vec<GpuDevice> = Vec::new();
    // Whether the previous line opened a device block (its temperature is on this line).
    let mut block_open = false;
    for line in output.lines() {
        if line.trim_start().starts_with("Processes") {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [first, _, third] = cells.as_slice() else {
            block_open = false;
            continue;
        };
        if let Some(device) = first_line(first, third) {
            devices.push(device);
            block_open = true;
            continue;
        }
        if block_open {
            if let Some(device) = devices.last_mut() {
                device.temperature_c = third
                    .split_whitespace()
                    .next()
                    .and_then(|t| units::whole_with(t, 'C'));
            }
        }
        block_open = false;
    }
    devices.sort_by_key(|d| d.index);
    devices.dedup_by_key(|d| d.index);
    devices
}

/// The device whose block opens with cells `first` (`0    MTT S5000`) and `third`
/// (`0%    66641MiB(81920MiB)`).
fn first_line(first: &str, third: &str) -> Option<GpuDevice> {
    let (id, name) = first.split_once(char::is_whitespace)?;
    let index: u32 = id.parse().ok()?;
    let name = name.trim();
    let mut words = third.split_whitespace();
    let utilization = units::whole_with(words.next()?, '%');
    let (used, total) = words.next()?.strip_suffix(')')?.split_once('(')?;
    let total = units::mib_suffixed(total)?;
    let used = units::mib_suffixed(used).unwrap_or(0).min(total);
    if name.is_empty() {
        return None;
    }
    Some(GpuDevice {
        index,
        name: name.to_owned(),
        total_memory_mb: total,
        free_memory_mb: total - used,
        used_memory_mb: used,
        utilization_percent: utilization,
        temperature_c: None,
        is_available: total > 0,
        error_message: (total == 0).then(|| "no memory total reported".to_owned()),
        vendor: Some("musa".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_process_rows_are_no_devices() {
        let text = "ID   Name |PCIe |%GPU  Mem\nProcesses:\n0    123    /usr/bin/python |x |0%    10MiB(20MiB)";
        assert!(parse_mthreads_gmi(text).is_empty());
        assert!(first_line("0    MTT S80", "0%    N/A").is_none());
    }
}
