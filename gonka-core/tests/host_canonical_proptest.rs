//! The host canonicaliser (`normalize_host`, the key of endpoint uniqueness) under generated
//! input: it is idempotent; every spelling of an address (trailing dot, scheme, slash, case,
//! IPv6 written out) has the key of its plain form; an IPv4 address spelled with leading zeros is
//! keyed as the URL standard reads it (octal) and refused by validation as ambiguous; a host
//! with a port in it is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use gonka_core::{normalize_host, validate_config, GovernanceModels, NodeConfig};
use proptest::prelude::*;

fn host_errors(host: &str) -> Vec<String> {
    let node = NodeConfig::new("n", "Qwen/Qwen3-32B-FP8")
        .at(host, 5050, 8080)
        .max_concurrent(1);
    validate_config(&node, &GovernanceModels::default())
        .into_iter()
        .filter(|e| e.field == "host")
        .map(|e| e.message)
        .collect()
}

fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9-]{0,10}"
}

proptest! {
    #[test]
    fn canonicalising_twice_changes_nothing(
        host in prop_oneof!["\\PC{0,40}", "[a-fA-F0-9xX:/. \\[\\]]{0,30}", "(http://|HTTP://| )?[0-9.]{0,20}[/. ]{0,3}"],
    ) {
        let once = normalize_host(&host);
        prop_assert_eq!(normalize_host(&once), once);
    }

    #[test]
    fn spellings_of_an_ipv4_address_share_its_key(ip in any::<Ipv4Addr>(), upper in any::<bool>()) {
        let plain = ip.to_string();
        let scheme = if upper { "HTTP://" } else { "http://" };
        for spelling in [plain.clone(), format!("{plain}."), format!("{scheme}{plain}./")] {
            prop_assert_eq!(normalize_host(&spelling), plain.clone(), "{}", spelling);
            prop_assert!(host_errors(&spelling).is_empty(), "{}: {:?}", spelling, host_errors(&spelling));
        }
    }

    #[test]
    fn leading_zeros_are_octal_and_refused(ip in any::<Ipv4Addr>(), pad in 0usize..4) {
        // Every octet written in octal with a leading zero: what the URL standard reads.
        let octal = ip.octets().iter().map(|o| format!("0{o:o}")).collect::<Vec<_>>().join(".");
        prop_assert_eq!(normalize_host(&octal), ip.to_string());
        let errors = host_errors(&octal);
        prop_assert!(errors.iter().any(|e| e.contains("ambiguous IPv4")), "{}: {:?}", octal, errors);
        // Decimal octets padded with zeros are refused too (ambiguous, or invalid octal: `09`).
        let padded = ip.octets().iter().map(|o| format!("{o:0>width$}", width = 1 + pad)).collect::<Vec<_>>().join(".");
        if padded != ip.to_string() {
            prop_assert!(!host_errors(&padded).is_empty(), "{} is accepted", padded);
        }
    }

    #[test]
    fn spellings_of_an_ipv6_address_share_its_key(segments in any::<[u16; 8]>()) {
        let ip = Ipv6Addr::from(segments);
        let key = format!("[{ip}]");
        let long = segments.iter().map(|s| format!("{s:x}")).collect::<Vec<_>>().join(":");
        for spelling in [format!("[{ip}]"), format!("[{long}]"), format!("http://[{}]/", long.to_uppercase())] {
            prop_assert_eq!(normalize_host(&spelling), key.clone(), "{}", spelling);
            prop_assert!(host_errors(&spelling).is_empty(), "{}", spelling);
        }
    }

    #[test]
    fn names_ignore_case_and_a_trailing_dot(labels in prop::collection::vec(label(), 1..4)) {
        let name = labels.join(".");
        let key = normalize_host(&name);
        prop_assert_eq!(normalize_host(&format!("{}.", name.to_uppercase())), key.clone());
        prop_assert_eq!(key, name.to_ascii_lowercase());
    }

    #[test]
    fn a_port_in_the_host_is_refused(labels in prop::collection::vec(label(), 1..3), ip in any::<Ipv4Addr>(), port in 1u16..) {
        for host in [format!("{}:{port}", labels.join(".")), format!("{ip}:{port}"), format!("http://{ip}:{port}/")] {
            let errors = host_errors(&host);
            prop_assert!(errors.iter().any(|e| e.contains("contains a port")), "{}: {:?}", host, errors);
        }
    }
}
