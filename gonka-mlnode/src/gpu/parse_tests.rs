//! Every vendor parser on the recorded outputs of `tests/fixtures/gpu/` (their sources are in
//! that directory's README), and on arbitrary or cut-off input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::{ascend, musa, rocm, GpuDevice};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gpu/",
            $name
        ))
    };
}

/// (name, total MiB, used MiB, temperature, utilisation, vendor) of each device, in order.
type Row = (
    &'static str,
    u64,
    u64,
    Option<u32>,
    Option<u32>,
    &'static str,
);

/// [`Row`] with owned strings.
type OwnedRow = (String, u64, u64, Option<u32>, Option<u32>, String);

/// A vendor parser.
type Parser = fn(&str) -> Vec<GpuDevice>;

fn rows(devices: &[GpuDevice]) -> Vec<OwnedRow> {
    devices
        .iter()
        .map(|d| {
            assert_eq!(d.free_memory_mb, d.total_memory_mb - d.used_memory_mb);
            (
                d.name.clone(),
                d.total_memory_mb,
                d.used_memory_mb,
                d.temperature_c,
                d.utilization_percent,
                d.vendor.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn expect(devices: &[GpuDevice], want: &[Row]) {
    let want: Vec<_> = want
        .iter()
        .map(|(n, t, u, temp, util, v)| (n.to_string(), *t, *u, *temp, *util, v.to_string()))
        .collect();
    assert_eq!(rows(devices), want);
    let indexes: Vec<u32> = devices.iter().map(|d| d.index).collect();
    assert_eq!(indexes, (0..devices.len() as u32).collect::<Vec<_>>());
}

#[test]
fn rocm_smi_6_mi300x() {
    let devices = rocm::parse_rocm_smi(fixture!("rocm-smi-6-mi300x.json"));
    expect(
        &devices,
        &[
            (
                "AMD Instinct MI300X",
                196_288,
                284,
                Some(41),
                Some(0),
                "amd",
            ),
            (
                "AMD Instinct MI300X",
                196_288,
                143_360,
                Some(38),
                Some(12),
                "amd",
            ),
        ],
    );
    assert!(devices.iter().all(|d| d.is_available));
}

#[test]
fn rocm_smi_5_rx6800_after_a_warning_line() {
    let devices = rocm::parse_rocm_smi(fixture!("rocm-smi-5-rx6800.txt"));
    let name = "Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]";
    expect(
        &devices,
        &[
            (name, 16_368, 16, Some(47), Some(3), "amd"),
            (name, 16_368, 16, Some(46), Some(0), "amd"),
        ],
    );
}

#[test]
fn hy_smi_dtk_z100() {
    let devices = rocm::parse_hy_smi(fixture!("hy-smi-dtk-z100.json"));
    expect(
        &devices,
        &[
            ("Z100SM", 32_752, 9_000, Some(49), Some(75), "hygon"),
            ("Z100SM", 32_752, 8_000, Some(47), Some(50), "hygon"),
        ],
    );
}

#[test]
fn hy_smi_hyhal_k100_with_missing_delimiters() {
    let devices = rocm::parse_hy_smi(fixture!("hy-smi-hyhal-k100.json"));
    expect(
        &devices,
        &[
            ("K100_AI", 65_520, 1_166, Some(51), Some(0), "hygon"),
            ("K100_AI", 65_520, 60_102, Some(53), Some(87), "hygon"),
        ],
    );
}

#[test]
fn npu_smi_910b4_one_chip_per_npu() {
    let devices = ascend::parse_npu_smi(fixture!("npu-smi-910b4.txt"));
    expect(
        &devices,
        &[
            ("Ascend 910B4-1", 65_536, 3_197, Some(33), Some(0), "ascend"),
            (
                "Ascend 910B4-1",
                65_536,
                41_870,
                Some(32),
                Some(37),
                "ascend",
            ),
        ],
    );
    assert!(devices.iter().all(|d| d.is_available));
}

#[test]
fn npu_smi_910_two_chips_per_npu() {
    let devices = ascend::parse_npu_smi(fixture!("npu-smi-910-two-chips.txt"));
    expect(
        &devices,
        &[
            ("Ascend910", 65_536, 3_416, Some(36), Some(0), "ascend"),
            ("Ascend910", 65_536, 3_195, Some(36), Some(0), "ascend"),
            ("Ascend910", 65_536, 3_415, Some(36), Some(0), "ascend"),
            ("Ascend910", 65_536, 3_190, Some(37), Some(12), "ascend"),
        ],
    );
    // A chip in Warning still serves; its health is reported.
    assert!(devices.iter().all(|d| d.is_available));
    assert_eq!(
        devices[3].error_message.as_deref(),
        Some("npu-smi health: Warning")
    );
}

#[test]
fn mthreads_gmi_2_s5000() {
    let devices = musa::parse_mthreads_gmi(fixture!("mthreads-gmi-2.3.2-s5000.txt"));
    expect(
        &devices,
        &[
            ("MTT S5000", 81_920, 66_641, Some(52), Some(0), "musa"),
            ("MTT S5000", 81_920, 64_889, Some(51), Some(97), "musa"),
        ],
    );
}

#[test]
fn mthreads_gmi_1_s80() {
    let devices = musa::parse_mthreads_gmi(fixture!("mthreads-gmi-1.14.0-s80.txt"));
    expect(
        &devices,
        &[("MTT S80", 16_384, 2, Some(49), Some(0), "musa")],
    );
}

/// Each parser with its fixtures.
fn parsers() -> Vec<(Parser, &'static str)> {
    vec![
        (rocm::parse_rocm_smi, fixture!("rocm-smi-6-mi300x.json")),
        (rocm::parse_rocm_smi, fixture!("rocm-smi-5-rx6800.txt")),
        (rocm::parse_hy_smi, fixture!("hy-smi-dtk-z100.json")),
        (rocm::parse_hy_smi, fixture!("hy-smi-hyhal-k100.json")),
        (ascend::parse_npu_smi, fixture!("npu-smi-910b4.txt")),
        (ascend::parse_npu_smi, fixture!("npu-smi-910-two-chips.txt")),
        (
            musa::parse_mthreads_gmi,
            fixture!("mthreads-gmi-2.3.2-s5000.txt"),
        ),
        (
            musa::parse_mthreads_gmi,
            fixture!("mthreads-gmi-1.14.0-s80.txt"),
        ),
    ]
}

#[test]
fn output_of_another_tool_lists_no_device() {
    for (i, (parse, _)) in parsers().iter().enumerate() {
        for (j, (_, other)) in parsers().iter().enumerate() {
            let same_format = (i / 2) == (j / 2) || (i < 4 && j < 4);
            if !same_format {
                assert!(parse(other).is_empty(), "parser {i} on fixture {j}");
            }
        }
    }
}

#[test]
fn empty_and_error_outputs_list_no_device() {
    for (parse, _) in parsers() {
        assert!(parse("").is_empty());
        assert!(parse("command not found").is_empty());
        assert!(parse("{}").is_empty());
        assert!(parse("ERROR: no devices\n").is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any input: no panic, and never more devices than lines or objects could hold.
    #[test]
    fn arbitrary_input_never_panics(input in any::<String>()) {
        for (parse, _) in parsers() {
            let devices = parse(&input);
            prop_assert!(devices.len() <= input.len());
        }
    }

    /// A fixture cut anywhere (a tool killed mid-output) gives at most its devices, each one
    /// of the full fixture's, never a panic.
    #[test]
    fn cut_output_gives_fewer_devices_or_none(cut in 0.0f64..1.0) {
        for (parse, text) in parsers() {
            let full = parse(text);
            let mut end = (text.len() as f64 * cut) as usize;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let partial = parse(&text[..end]);
            prop_assert!(partial.len() <= full.len());
            for d in &partial {
                let same = full.iter().find(|f| f.index == d.index);
                prop_assert!(same.is_some());
                prop_assert_eq!(&same.map(|f| &f.name), &Some(&d.name));
            }
        }
    }

    /// Lines of a fixture mixed with arbitrary lines: no panic.
    #[test]
    fn fixture_lines_among_garbage_never_panic(
        noise in proptest::collection::vec(".{0,80}", 0..20),
        picks in proptest::collection::vec(any::<proptest::sample::Index>(), 0..40),
    ) {
        for (parse, text) in parsers() {
            let lines: Vec<&str> = text.lines().collect();
            let mut mixed: Vec<String> = noise.clone();
            for p in &picks {
                mixed.push(lines[p.index(lines.len())].to_owned());
            }
            let _ = parse(&mixed.join("\n"));
        }
    }
}
