//! `npu-smi info` (Huawei Ascend): a boxed table with two rows per chip,
//!
//! ```text
//! | NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
//! | Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
//! +===========================+===============+====================================================+
//! | 0     910B4-1             | OK            | 91.3        33                0    / 0             |
//! | 0                         | 0000:c1:00.0  | 0           0    / 0          3197 / 65536         |
//! ```
//!
//! then a process table, which is not read. Each chip is one device, indexed in table order;
//! its memory is the HBM pair when the chip has HBM (910 series), else the Memory-Usage pair
//! (310 series). The name gets an `Ascend ` prefix when the tool prints the bare model.

use super::{units, GpuDevice};

/// Devices in `npu-smi info` output, vendor `ascend`.
pub(super) fn parse_npu_smi(output: &str) -> Vec<GpuDevice> {
    let mut devices = Vec::new();
    // The first row of the chip being read: name, health, temperature.
    let mut pending: Option<(String, String, Option<u32>)> = None;
    for line in output.lines() {
        if line.contains("Process id") || line.contains("Process name") {
            break;
        }
        let Some(cells) = cells(line) else {
            continue;
        };
        let [first, second, third] = [cells[0], cells[1], cells[2]];
        if first.starts_with("NPU") || first.starts_with("Chip") {
            continue;
        }
        if looks_like_bus_id(second) {
            let Some((name, health, temperature)) = pending.take() else {
                continue;
            };
            let Ok(index) = u32::try_from(devices.len()) else {
                break;
            };
            devices.push(device(index, name, &health, temperature, third));
        } else {
            let mut words = first.split_whitespace();
            let npu_id = words.next().and_then(|w| w.parse::<u32>().ok());
            let model = words.collect::<Vec<_>>().join(" ");
            pending = match npu_id {
                Some(_) if !model.is_empty() && !second.is_empty() => {
                    let temperature = third.split_whitespace().nth(1).and_then(units::whole);
                    Some((model, second.to_owned(), temperature))
                }
                _ => None,
            };
        }
    }
    devices
}

/// The three cells of a table row `| a | b | c |`, trimmed; `None` for other lines.
fn cells(line: &str) -> Option<[&str; 3]> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let mut parts = inner.split('|').map(str::trim);
    let cells = [parts.next()?, parts.next()?, parts.next()?];
    parts.next().is_none().then_some(cells)
}

/// `0000:c1:00.0` (some releases mask digits: `0000:xx:00.0`).
fn looks_like_bus_id(cell: &str) -> bool {
    cell.matches(':').count() == 2 && !cell.contains(char::is_whitespace)
}

/// The chip whose second row's last cell is `usage` (`AICore(%)`, then `used / total` pairs).
fn device(
    index: u32,
    model: String,
    health: &str,
    temperature: Option<u32>,
    usage: &str,
) -> GpuDevice {
    // Five-digit values touch the slash (`41870/ 65536`): space it out first.
    let spaced = usage.replace('/', " / ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let utilization = words.first().and_then(|w| units::whole(w));
    let pairs: Vec<(u64, u64)> = words
        .windows(3)
        .filter(|w| w[1] == "/")
        .filter_map(|w| Some((w[0].parse().ok()?, w[2].parse().ok()?)))
        .collect();
    // HBM (the last pair) when the chip has some, else the first (Memory-Usage).
    let (used, total) = pairs
        .iter()
        .rev()
        .find(|(_, total)| *total > 0)
        .copied()
        .unwrap_or((0, 0));
    let used = used.min(total);
    let healthy = health.eq_ignore_ascii_case("OK") || health.eq_ignore_ascii_case("Warning");
    let name = if model.to_ascii_lowercase().contains("ascend") {
        model
    } else {
        format!("Ascend {model}")
    };
    GpuDevice {
        index,
        name,
        total_memory_mb: total,
        free_memory_mb: total - used,
        used_memory_mb: used,
        utilization_percent: utilization,
        temperature_c: temperature,
        is_available: healthy && total > 0,
        error_message: if !health.eq_ignore_ascii_case("OK") {
            Some(format!("npu-smi health: {health}"))
        } else if total == 0 {
            Some("no memory total reported".to_owned())
        } else {
            None
        },
        vendor: Some("ascend".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_other_than_chip_pairs_are_skipped() {
        assert_eq!(cells("| a | b | c |"), Some(["a", "b", "c"]));
        assert_eq!(cells("| a | b |"), None);
        assert_eq!(cells("+=====+"), None);
        assert!(looks_like_bus_id("0000:9D:00.0"));
        assert!(!looks_like_bus_id("OK"));
        // A second row without its first row is no device.
        assert!(parse_npu_smi("| 0   0 | 0000:01:00.0 | 0  0 / 0  10 / 20 |").is_empty());
    }

    #[test]
    fn an_alarmed_chip_is_listed_unavailable() {
        let table = "| 3     910B3  | Alarm  | 90.0  70   0 / 0 |\n| 0  | 0000:01:00.0 | 5   0 / 0   100 / 65536 |";
        let devices = parse_npu_smi(table);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].name, "Ascend 910B3");
        assert_eq!(devices[0].temperature_c, Some(70));
        assert_eq!(devices[0].utilization_percent, Some(5));
        assert!(!devices[0].is_available);
        assert_eq!(
            devices[0].error_message.as_deref(),
            Some("npu-smi health: Alarm")
        );
    }
}
