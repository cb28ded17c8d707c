//! `rocm-smi` (AMD) and `hy-smi` (Hygon DCU, a ROCm derivative) with `--showproductname
//! --showmeminfo vram --showtemp --showuse --json`: one object per card,
//! `{"card0": {"Card Series": "...", "VRAM Total Memory (B)": "...", ...}, ...}`.
//!
//! Key spellings differ between releases and are matched without regard to case: `Card series`
//! (ROCm 5) or `Card Series` (ROCm 6, `hy-smi`), `Device Name`; memory as `VRAM Total Memory
//! (B)` (`rocm-smi`) or `vram Total Memory (MiB)` (`hy-smi`), the unit read from the key;
//! utilisation as `GPU use (%)`, `DCU use (%)` or `HCU use (%)`; temperature from the junction
//! sensor, else the edge sensor, else any. Text around the JSON (warnings) is ignored, and so
//! is the missing `,` between two members some `hy-smi` releases print.

use serde_json::{Map, Value};

use super::{units, GpuDevice};

/// Devices in `rocm-smi --json` output, vendor `amd`.
pub(super) fn parse_rocm_smi(output: &str) -> Vec<GpuDevice> {
    parse_cards(output, "amd", "AMD GPU")
}

/// Devices in `hy-smi --json` output, vendor `hygon`.
pub(super) fn parse_hy_smi(output: &str) -> Vec<GpuDevice> {
    parse_cards(output, "hygon", "Hygon DCU")
}

fn parse_cards(output: &str, vendor: &str, fallback_name: &str) -> Vec<GpuDevice> {
    let Some(cards) = json_object(output) else {
        return Vec::new();
    };
    let mut devices: Vec<GpuDevice> = cards
        .iter()
        .filter_map(|(key, value)| {
            let index = key.trim().strip_prefix("card")?.parse::<u32>().ok()?;
            Some(card(index, value.as_object()?, vendor, fallback_name))
        })
        .collect();
    devices.sort_by_key(|d| d.index);
    devices.dedup_by_key(|d| d.index);
    devices
}

/// The card `fields` describe.
fn card(index: u32, fields: &Map<String, Value>, vendor: &str, fallback_name: &str) -> GpuDevice {
    let fields: Vec<(String, String)> = fields
        .iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            let known = !text.is_empty() && !text.eq_ignore_ascii_case("N/A");
            known.then(|| (k.trim().to_ascii_lowercase(), text))
        })
        .collect();
    let get = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let name = get("card series")
        .or_else(|| get("device name"))
        .or_else(|| get("card model").filter(|m| !m.starts_with("0x")))
        .map_or_else(|| format!("{fallback_name} {index}"), str::to_owned);
    let memory = |prefix: &str| {
        fields.iter().find_map(|(k, v)| {
            let unit = k.strip_prefix(prefix)?.strip_suffix(')')?;
            units::mib(v, unit)
        })
    };
    let total = memory("vram total memory (").unwrap_or(0);
    let used = memory("vram total used memory (").unwrap_or(0).min(total);
    let temperature = [
        "temperature (sensor junction) (c)",
        "temperature (sensor edge) (c)",
    ]
    .iter()
    .find_map(|k| get(k).and_then(units::whole))
    .or_else(|| {
        fields
            .iter()
            .filter(|(k, _)| k.starts_with("temperature (") && k.ends_with("(c)"))
            .find_map(|(_, v)| units::whole(v))
    });
    let utilization = ["gpu use (%)", "dcu use (%)", "hcu use (%)"]
        .iter()
        .find_map(|k| get(k).and_then(units::whole));
    GpuDevice {
        index,
        name,
        total_memory_mb: total,
        free_memory_mb: total - used,
        used_memory_mb: used,
        utilization_percent: utilization,
        temperature_c: temperature,
        is_available: total > 0,
        error_message: (total == 0).then(|| "no VRAM total reported".to_owned()),
        vendor: Some(vendor.to_owned()),
    }
}

/// The JSON object in `output` (from its first `{` to its last `}`), with missing `,` between
/// members put back when it does not parse as it is.
fn json_object(output: &str) -> Option<Map<String, Value>> {
    let start = output.find('{')?;
    let end = output.rfind('}')?;
    let text = output.get(start..=end)?;
    let parsed = serde_json::from_str::<Map<String, Value>>(text)
        .or_else(|_| serde_json::from_str::<Map<String, Value>>(&with_missing_commas(text)));
    parsed.ok()
}

/// `text` with a `,` inserted wherever a string is directly followed by another string (`"a"
/// "b"`), which no valid JSON contains.
fn with_missing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut after_string = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                after_string = true;
            }
            continue;
        }
        if c == '"' {
            if after_string {
                out.push(',');
            }
            in_string = true;
        }
        if !c.is_whitespace() {
            after_string = false;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_commas_are_put_back_and_nothing_else_changes() {
        assert_eq!(
            with_missing_commas(r#"{"a":"1""b":"2" "c":"x\"y"}"#),
            r#"{"a":"1","b":"2" ,"c":"x\"y"}"#
        );
        let valid = r#"{"a": "", "b": ["x", "y"], "c": {"d": "e"}}"#;
        assert_eq!(with_missing_commas(valid), valid);
    }

    #[test]
    fn a_card_without_memory_is_listed_unavailable() {
        let devices = parse_rocm_smi(r#"{"card3": {"GPU use (%)": "7"}, "system": {}}"#);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].index, 3);
        assert_eq!(devices[0].name, "AMD GPU 3");
        assert_eq!(devices[0].utilization_percent, Some(7));
        assert!(!devices[0].is_available);
    }
}
