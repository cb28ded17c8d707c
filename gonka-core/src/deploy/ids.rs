//! Identifiers of deployments: `tg-{unix_ns}-{hex4}` task groups, `task-{hex}-r{rank}-{group}`
//! tasks, `ep-{hex16}` endpoints, `mr-{hex16}` model routes, `sk-{uuid}` endpoint API keys.
//!
//! Core draws no randomness: callers pass the random bits (the server crates take them from the
//! operating system), so ids are reproducible in tests.

/// A task group id: `tg-{unix_ns}-{hex4}`.
pub fn task_group_id(unix_ns: u128, random: u16) -> String {
    format!("tg-{unix_ns}-{random:04x}")
}

/// A task id: `task-{hex8}-r{rank}-{group_id}`.
pub fn task_id(random: u32, rank: u32, group_id: &str) -> String {
    format!("task-{random:08x}-r{rank}-{group_id}")
}

/// An endpoint id: `ep-{hex16}`.
pub fn endpoint_id(random: u64) -> String {
    format!("ep-{random:016x}")
}

/// A model route id: `mr-{hex16}`.
pub fn model_route_id(random: u64) -> String {
    format!("mr-{random:016x}")
}

/// An endpoint API key `sk-{uuid}` (a version-4 UUID from 128 random bits). Shown once; stored as
/// its hash.
pub fn api_key(random: u128) -> String {
    // Version 4, variant RFC 4122.
    let v = (random & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{v:032x}");
    format!(
        "sk-{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Which kind of id a string is, when it has one of the formats above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `tg-{unix_ns}-{hex4}`.
    TaskGroup,
    /// `task-{hex}-r{rank}-{group_id}`.
    Task,
    /// `ep-{hex16}`.
    Endpoint,
    /// `mr-{hex16}`.
    ModelRoute,
}

/// The kind of `id`, or `None` when it has none of the formats (servers answer 404 without a
/// lookup).
pub fn id_kind(id: &str) -> Option<IdKind> {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = |s: &str| !s.is_empty() && s.len() <= 39 && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = id.strip_prefix("tg-") {
        let (ns, h) = rest.split_once('-')?;
        return (digits(ns) && hex(h, 4)).then_some(IdKind::TaskGroup);
    }
    if let Some(rest) = id.strip_prefix("task-") {
        let (h, rest) = rest.split_once("-r")?;
        let (rank, group) = rest.split_once('-')?;
        let ok = !h.is_empty()
            && h.len() <= 16
            && h.bytes().all(|b| b.is_ascii_hexdigit())
            && digits(rank)
            && id_kind(group) == Some(IdKind::TaskGroup);
        return ok.then_some(IdKind::Task);
    }
    if let Some(h) = id.strip_prefix("ep-") {
        return hex(h, 16).then_some(IdKind::Endpoint);
    }
    if let Some(h) = id.strip_prefix("mr-") {
        return hex(h, 16).then_some(IdKind::ModelRoute);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_documented_shapes() {
        let tg = task_group_id(1_733_000_000_123_456_789, 0xbe);
        assert_eq!(tg, "tg-1733000000123456789-00be");
        assert_eq!(id_kind(&tg), Some(IdKind::TaskGroup));
        let task = task_id(0xdead_beef, 2, &tg);
        assert_eq!(task, "task-deadbeef-r2-tg-1733000000123456789-00be");
        assert_eq!(id_kind(&task), Some(IdKind::Task));
        assert_eq!(endpoint_id(1), "ep-0000000000000001");
        assert_eq!(id_kind(&endpoint_id(u64::MAX)), Some(IdKind::Endpoint));
        assert_eq!(model_route_id(0xabc), "mr-0000000000000abc");
        assert_eq!(id_kind(&model_route_id(7)), Some(IdKind::ModelRoute));
    }

    #[test]
    fn api_keys_are_version_4_uuids() {
        for r in [0u128, u128::MAX, 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef] {
            let key = api_key(r);
            let uuid = key.strip_prefix("sk-").unwrap();
            let parts: Vec<_> = uuid.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{key}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{key}");
        }
        assert_ne!(api_key(1), api_key(2));
    }

    #[test]
    fn malformed_ids_have_no_kind() {
        for id in [
            "",
            "tg-",
            "tg-12-xyz1",
            "tg-12-00be0",
            "tg--00be",
            "task-zz-r1-tg-1-0000",
            "task-ab-rx-tg-1-0000",
            "task-ab-r1-node1",
            "ep-123",
            "mr-000000000000000g",
            "node1",
        ] {
            assert_eq!(id_kind(id), None, "{id:?}");
        }
    }
}
