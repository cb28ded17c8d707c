//! Numbers as the vendor tools print them: `"52.0"`, `"0%"`, `"48C"`, `"66641MiB"`, and memory
//! sizes in a unit named apart (`"VRAM Total Memory (B)"`). Nothing here panics: what does not
//! parse is `None`.

use super::MIB;

/// A non-negative decimal (`"52.0"`, `"19"`), rounded to a whole number; `None` for `N/A`,
/// negative, non-finite or out-of-range values.
pub(super) fn whole(text: &str) -> Option<u32> {
    let v: f64 = text.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0 && v <= f64::from(u32::MAX)).then(|| v.round() as u32)
}

/// [`whole`] after dropping a trailing `suffix` (`"0%"` with `%`, `"48C"` with `C`).
pub(super) fn whole_with(text: &str, suffix: char) -> Option<u32> {
    whole(text.trim().strip_suffix(suffix)?)
}

/// `amount` of `unit` (`B`, `KiB`/`KB`, `MiB`/`MB`, `GiB`/`GB`, any case) in MiB, rounded down;
/// `None` for an unknown unit or a value that does not parse.
pub(super) fn mib(amount: &str, unit: &str) -> Option<u64> {
    let v: u64 = amount.trim().parse().ok()?;
    match unit.trim().to_ascii_lowercase().as_str() {
        "b" => Some(v / MIB),
        "kib" | "kb" => Some(v / 1024),
        "mib" | "mb" => Some(v),
        "gib" | "gb" => v.checked_mul(1024),
        _ => None,
    }
}

/// A size with its unit attached (`"66641MiB"`, `"48GiB"`) in MiB.
pub(super) fn mib_suffixed(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    mib(&text[..split], &text[split..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_units_and_garbage() {
        assert_eq!(whole("52.0"), Some(52));
        assert_eq!(whole(" 19 "), Some(19));
        assert_eq!(whole("N/A"), None);
        assert_eq!(whole("-1"), None);
        assert_eq!(whole("1e300"), None);
        assert_eq!(whole_with("0%", '%'), Some(0));
        assert_eq!(whole_with("48C", 'C'), Some(48));
        assert_eq!(whole_with("48", 'C'), None);
        assert_eq!(mib("21458059264", "B"), Some(20464));
        assert_eq!(mib("65520", "MiB"), Some(65520));
        assert_eq!(mib("2", "GiB"), Some(2048));
        assert_eq!(mib("2", "parsecs"), None);
        assert_eq!(mib_suffixed("66641MiB"), Some(66641));
        assert_eq!(mib_suffixed("81920MiB)"), None);
        assert_eq!(mib_suffixed("MiB"), None);
        assert_eq!(mib(&u64::MAX.to_string(), "GiB"), None);
    }
}
