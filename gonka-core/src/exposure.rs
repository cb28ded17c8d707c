//! [`check_listener`]: the start-up rule for private listeners (admin API, PoC callbacks, ML node
//! management): one that binds beyond loopback without a token is refused unless the operator
//! passed `--allow-unauthenticated`, and then it is logged as a warning.

use std::fmt;
use std::net::SocketAddr;

/// A private listener about to be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivateListener<'a> {
    /// What it is, with its flag, e.g. `admin API (--admin-listen)`.
    pub what: &'a str,
    /// The address it binds.
    pub addr: SocketAddr,
    /// Whether callers must present a token.
    pub authenticated: bool,
    /// How to protect it, for the message, e.g. `set --token (GONKA_ADMIN_TOKEN)`.
    pub remedy: &'a str,
}

/// A listener bound beyond loopback without a token, not allowed by `--allow-unauthenticated`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnauthenticatedListener {
    /// What it is, with its flag.
    pub what: String,
    /// The address it binds.
    pub addr: SocketAddr,
    /// How to protect it.
    pub remedy: String,
    /// The flag that accepts the risk.
    pub allow_flag: String,
}

impl fmt::Display for UnauthenticatedListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} listens on {}, beyond loopback, without a token: anyone who reaches it can use \
             it; {}, bind a loopback address, or pass {} to accept this (e.g. on a firewalled \
             private network)",
            self.what, self.addr, self.remedy, self.allow_flag
        )
    }
}

impl std::error::Error for UnauthenticatedListener {}

/// Whether `addr` is reachable beyond this host: not a loopback address (an IPv4-mapped IPv6
/// loopback counts as loopback).
pub fn beyond_loopback(addr: SocketAddr) -> bool {
    !addr.ip().to_canonical().is_loopback()
}

/// Applies the start-up rule to `listener`: `Ok(None)` when it is authenticated or on loopback;
/// `Ok(Some(warning))` when it is exposed without a token but `allow_unauthenticated` is set (the
/// caller logs the warning); an error otherwise. `allow_flag` names the flag for the messages.
///
/// # Errors
/// [`UnauthenticatedListener`] when the listener is exposed without a token and not allowed.
pub fn check_listener(
    listener: PrivateListener<'_>,
    allow_unauthenticated: bool,
    allow_flag: &str,
) -> Result<Option<String>, UnauthenticatedListener> {
    if listener.authenticated || !beyond_loopback(listener.addr) {
        return Ok(None);
    }
    if allow_unauthenticated {
        return Ok(Some(format!(
            "the {} listens on {}, beyond loopback, without a token ({} given): anyone who \
             reaches it can use it; keep it on a firewalled private network",
            listener.what, listener.addr, allow_flag
        )));
    }
    Err(UnauthenticatedListener {
        what: listener.what.to_owned(),
        addr: listener.addr,
        remedy: listener.remedy.to_owned(),
        allow_flag: allow_flag.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(addr: &str, authenticated: bool) -> PrivateListener<'static> {
        PrivateListener {
            what: "admin API (--admin-listen)",
            addr: addr.parse().unwrap(),
            authenticated,
            remedy: "set --token",
        }
    }

    #[test]
    fn loopback_or_token_passes_silently() {
        for addr in ["127.0.0.1:9200", "[::1]:9200", "[::ffff:127.0.0.1]:9200"] {
            assert_eq!(
                check_listener(listener(addr, false), false, "--allow-unauthenticated"),
                Ok(None),
                "{addr}"
            );
        }
        assert_eq!(
            check_listener(listener("0.0.0.0:9200", true), false, "--x"),
            Ok(None)
        );
    }

    #[test]
    fn exposed_without_token_is_refused_unless_allowed() {
        let e = check_listener(
            listener("0.0.0.0:9200", false),
            false,
            "--allow-unauthenticated",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(
            e.contains("0.0.0.0:9200")
                && e.contains("--allow-unauthenticated")
                && e.contains("set --token"),
            "{e}"
        );
        let warning = check_listener(
            listener("10.0.0.5:9200", false),
            true,
            "--allow-unauthenticated",
        );
        assert!(matches!(warning, Ok(Some(w)) if w.contains("10.0.0.5:9200")));
    }
}
