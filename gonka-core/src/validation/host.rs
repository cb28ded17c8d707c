//! The canonical form of a node's host ([`normalize_host`]), the key endpoint uniqueness is
//! decided on, and the host rules of validation ([`host_problem`]).
//!
//! Two spellings of one address are one host: `10.0.0.21`, `10.0.0.21.` and
//! `HTTP://10.0.0.21/`; `[::1]` and `[0:0:0:0:0:0:0:1]`; `Node-A.local` and `node-a.local.`.
//! An IPv4 address spelled with leading zeros, in hex or with fewer than four parts
//! (`010.000.000.021`, `0x0a.0.0.21`, `10.21`) is ambiguous: the URL standard the gateway's
//! HTTP client follows reads `010` as octal (8), people and other tools as decimal (10). Such a
//! host is refused by validation; its key is the address the gateway would connect to.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The host as written without surrounding whitespace, scheme (`http://`, the text after the
/// last `://`) or trailing slashes.
fn authority(host: &str) -> &str {
    let h = host.trim();
    let h = h
        .rsplit_once("://")
        .map_or(h, |(_, rest)| rest.trim_start());
    h.trim_end_matches(|c: char| c == '/' || c.is_whitespace())
}

/// The key used to detect two nodes on one endpoint: the canonical address.
///
/// Scheme, trailing slashes and trailing dots are dropped and names are lower-cased; an IPv4
/// address becomes four decimal numbers (read as the URL standard reads it: `010` is octal,
/// `0x0a` hex, `10.21` is `10.0.0.21`); an IPv6 address, with or without brackets, becomes its
/// shortest form in brackets. `http://10.0.0.21./`, `10.0.0.21` and `10.0.0.21.` have one key;
/// so have `[::1]` and `[0:0:0:0:0:0:0:1]`. The function is total and idempotent.
pub fn normalize_host(host: &str) -> String {
    let bare =
        authority(host).trim_end_matches(|c: char| c == '/' || c == '.' || c.is_whitespace());
    if let Some(ip) = ipv6_of(bare) {
        return format!("[{ip}]");
    }
    if let Some(Ok(ip)) = ipv4_of(bare) {
        return ip.to_string();
    }
    bare.to_ascii_lowercase()
}

/// The rows whose stored endpoint key is not [`normalize_host`] of their host, with the key
/// they should have: `(id, stored key, host)` in, `(id, fresh key)` out, in input order. A
/// registry that keeps the key in its own column runs this over its rows when it opens a store
/// an older release wrote (whose keys may predate today's canonical form); a missing host keys
/// as the empty string.
pub fn stale_host_keys(
    rows: impl IntoIterator<Item = (String, String, Option<String>)>,
) -> Vec<(String, String)> {
    rows.into_iter()
        .filter_map(|(id, key, host)| {
            let fresh = normalize_host(host.as_deref().unwrap_or_default());
            (fresh != key).then_some((id, fresh))
        })
        .collect()
}

/// The IPv6 address `bare` spells, bracketed (`[::1]`) or not (`::1`).
fn ipv6_of(bare: &str) -> Option<Ipv6Addr> {
    let inner = bare
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(bare);
    inner.parse().ok()
}

/// Reads `name` as the URL standard's IPv4 parser does: `None` when it is a domain name (its
/// last label is not a number), `Some(Err(()))` when it ends in a number but is no valid
/// address (`1.2.3.999`, `08.1.1.1`), else the address.
fn ipv4_of(name: &str) -> Option<Result<Ipv4Addr, ()>> {
    let parts: Vec<&str> = name.split('.').collect();
    let last = parts.last()?;
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if last.is_empty() || !(hex || last.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    if parts.len() > 4 {
        return Some(Err(()));
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        match ipv4_number(part) {
            Some(n) => numbers.push(n),
            None => return Some(Err(())),
        }
    }
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|&n| n > 255) {
        return Some(Err(()));
    }
    // The last number fills the bytes the others leave: 2^(8 × (5 − parts)).
    let room = 1u64 << (8 * (5 - numbers.len()));
    if *last >= room {
        return Some(Err(()));
    }
    let mut value = *last;
    for (i, &n) in leading.iter().enumerate() {
        value += n << (8 * (3 - i));
    }
    Some(u32::try_from(value).map(Ipv4Addr::from).map_err(|_| ()))
}

/// One part of an IPv4 address: `0x…` hex, `0…` octal, else decimal (`None` when invalid or
/// beyond `u64`).
fn ipv4_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
        return if h.is_empty() {
            Some(0)
        } else {
            u64::from_str_radix(h, 16).ok()
        };
    }
    if part.len() > 1 && part.starts_with('0') {
        return u64::from_str_radix(&part[1..], 8).ok();
    }
    part.parse().ok()
}

/// What is wrong with `host` as a node address, if anything: a port in it (`10.0.0.21:5050`),
/// an IPv6 address without brackets, an ambiguous IPv4 spelling (see the module docs) or a
/// number-like name that is no IPv4 address. Emptiness, length and whitespace are checked by
/// the caller.
pub(crate) fn host_problem(host: &str) -> Option<String> {
    let bare = authority(host);
    if let Some(rest) = bare.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return Some(format!("host {host:?} opens '[' without closing it"));
        };
        if after.strip_prefix(':').is_some() {
            return Some(port_in_host(host));
        }
        if !after.is_empty() || inner.parse::<Ipv6Addr>().is_err() {
            return Some(format!(
                "host {host:?} is not a valid bracketed IPv6 address"
            ));
        }
        return None;
    }
    if bare.contains(':') {
        if bare.parse::<Ipv6Addr>().is_ok() {
            return Some(format!(
                "host {host:?} is an IPv6 address: write it in brackets, e.g. [{bare}]"
            ));
        }
        return Some(port_in_host(host));
    }
    let name = bare.strip_suffix('.').unwrap_or(bare);
    if name.ends_with('.') || name.ends_with('/') {
        return Some(format!("host {host:?} ends in more than one '.' or '/'"));
    }
    match ipv4_of(name)? {
        Err(()) => Some(format!(
            "host {host:?} ends in a number but is not a valid IPv4 address"
        )),
        Ok(ip) if ip.to_string() != name => Some(format!(
            "host {host:?} is an ambiguous IPv4 address (leading zeros, hex or fewer than four \
             parts): the gateway would read it as {ip}; write four decimal numbers without \
             leading zeros"
        )),
        Ok(_) => None,
    }
}

fn port_in_host(host: &str) -> String {
    format!(
        "host {host:?} contains a port (or another ':'); give the host alone and the ports as \
         inference_port and poc_port"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rows_keyed_apart_from_todays_canonical_form_are_stale() {
        let rows = [
            ("a", "10.0.0.21.", Some("10.0.0.21.")),
            ("b", "10.0.0.21", Some("10.0.0.21")),
            ("c", "x", None),
            ("d", "", None),
        ]
        .map(|(id, key, host)| (id.to_owned(), key.to_owned(), host.map(str::to_owned)));
        assert_eq!(
            stale_host_keys(rows),
            [
                ("a".to_owned(), "10.0.0.21".to_owned()),
                ("c".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn spellings_of_one_address_share_a_key() {
        for h in [
            "10.0.0.21",
            "10.0.0.21.",
            "HTTP://10.0.0.21./",
            " 10.0.0.21/ ",
        ] {
            assert_eq!(normalize_host(h), "10.0.0.21", "{h}");
        }
        for h in ["[::1]", "[0:0:0:0:0:0:0:1]", "::1", "http://[::0001]/"] {
            assert_eq!(normalize_host(h), "[::1]", "{h}");
        }
        assert_eq!(normalize_host("Node-A.Local."), "node-a.local");
        for h in ["x://y://Z", "a/./", "a /", "http:// a"] {
            let key = normalize_host(h);
            assert_eq!(normalize_host(&key), key, "{h}");
        }
    }

    #[test]
    fn ipv4_is_read_as_the_url_standard_reads_it() {
        assert_eq!(normalize_host("010.000.000.021"), "8.0.0.17");
        assert_eq!(normalize_host("0x0a.0.0.21"), "10.0.0.21");
        assert_eq!(normalize_host("10.21"), "10.0.0.21");
        assert_eq!(normalize_host("167772181"), "10.0.0.21");
        assert_eq!(ipv4_of("1.2.3.999"), Some(Err(())));
        assert_eq!(ipv4_of("08.1.1.1"), Some(Err(())));
        assert_eq!(ipv4_of("1.2.3.4.5"), Some(Err(())));
        assert_eq!(ipv4_of("node1.example"), None);
        assert_eq!(ipv4_of("99999999999999999999999"), Some(Err(())));
    }

    #[test]
    fn ports_ambiguous_and_unbracketed_addresses_are_problems() {
        for ok in [
            "10.0.0.21",
            "10.0.0.21.",
            "node-a",
            "[::1]",
            "http://10.0.0.21/",
        ] {
            assert_eq!(host_problem(ok), None, "{ok}");
        }
        for (bad, says) in [
            ("10.0.0.21:5050", "contains a port"),
            ("[::1]:5050", "contains a port"),
            ("node-a:80", "contains a port"),
            ("::1", "in brackets"),
            ("010.000.000.021", "ambiguous"),
            ("10.21", "ambiguous"),
            ("1.2.3.999", "not a valid IPv4"),
            ("[::1", "without closing"),
            ("[zz]", "bracketed IPv6"),
            ("10.0.0.21..", "more than one"),
        ] {
            let p = host_problem(bad).unwrap_or_default();
            assert!(p.contains(says), "{bad}: {p}");
        }
    }
}
