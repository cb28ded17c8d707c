//! [`SitePolicy`]: which `Host` and `Origin` headers a private API (the admin API, the ML node
//! management API, the PoC callbacks) accepts, so that a web page cannot drive it from a
//! browser.
//!
//! Two attacks are covered:
//!
//! - **Cross-site requests.** A page on `https://evil.example` makes the browser `POST` to
//!   `http://127.0.0.1:9200/...`. Browsers send `Origin` on every such request (and on every
//!   `POST`), so a request whose `Origin` is not the API's own origin (`Origin` naming the same
//!   `host:port` as `Host`) or an allowed one is refused. Clients that are not browsers (curl,
//!   SDKs, upstream's network node) send no `Origin` and are not affected.
//! - **DNS rebinding.** `evil.example` is made to resolve to `127.0.0.1`; the page's requests are
//!   then same-origin, but carry `Host: evil.example:9200`. A `Host` that is neither an IP
//!   literal, nor `localhost`, nor an allowed name is refused. An IP literal cannot be rebound
//!   (the browser's origin is the address itself), so the listener's own address, loopback and
//!   any other address are accepted as `Host`.
//!
//! A request with neither header (an HTTP/1.0 client) is accepted.

use std::fmt;
use std::net::IpAddr;

/// What a [`SitePolicy`] accepts as `Host` or as `Origin`: everything, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allow {
    /// `*`: every value.
    Any,
    /// These values (lower case) besides the built-in ones.
    Listed(Vec<String>),
}

/// The `Host` and `Origin` headers a listener accepts.
///
/// Accepted `Host`s: IP literals and `localhost` (any port), plus the names given to
/// [`SitePolicy::allow_hosts`] (`name` for any port, `name:port` for that port only), or every
/// host when the list holds `*`. Accepted `Origin`s: none (no header), the API's own origin (its
/// `host[:port]` equals `Host`, the `Host` itself being accepted), plus the origins given to
/// [`SitePolicy::allow_origins`] (`scheme://host[:port]`), or every origin with `*`.
/// [`SitePolicy::no_browsers`] accepts any `Host` and no `Origin` at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePolicy {
    hosts: Allow,
    origins: Allow,
    same_origin: bool,
}

impl Default for SitePolicy {
    /// IP literals and `localhost` as `Host`, no `Origin` but the API's own.
    fn default() -> Self {
        Self {
            hosts: Allow::Listed(Vec::new()),
            origins: Allow::Listed(Vec::new()),
            same_origin: true,
        }
    }
}

/// Why a request was refused; its `Display` names the offending value and the setting that
/// would allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossSiteRefusal {
    /// The `Origin` header names a site that is not allowed.
    ForeignOrigin(String),
    /// The `Host` header names a host that is not allowed (DNS rebinding).
    UnexpectedHost(String),
}

impl fmt::Display for CrossSiteRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrossSiteRefusal::ForeignOrigin(origin) => write!(
                f,
                "cross-site request refused: Origin {origin:?} is not allowed (browsers may not \
                 call this API from another site; allow it with the allowed-origins setting)"
            ),
            CrossSiteRefusal::UnexpectedHost(host) => write!(
                f,
                "request for unexpected Host {host:?} refused (possible DNS rebinding; allow the \
                 name with the allowed-hosts setting)"
            ),
        }
    }
}

impl std::error::Error for CrossSiteRefusal {}

impl SitePolicy {
    /// The default policy plus `hosts`: names accepted as `Host` (`name` or `name:port`), `*`
    /// for every host. Empty entries are ignored.
    #[must_use]
    pub fn allow_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.hosts = extend(self.hosts, hosts);
        self
    }

    /// The policy plus `origins` accepted as `Origin` (`scheme://host[:port]`, a trailing `/`
    /// ignored), `*` for every origin. Empty entries are ignored.
    #[must_use]
    pub fn allow_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.origins = extend(
            self.origins,
            origins
                .into_iter()
                .map(|o| o.as_ref().trim().trim_end_matches('/').to_owned()),
        );
        self
    }

    /// For an API no browser has a reason to call (ML node management, PoC callbacks): every
    /// `Host` is accepted (upstream's clients name nodes by container names) and every request
    /// carrying an `Origin` is refused, unless [`SitePolicy::allow_origins`] lists it.
    pub fn no_browsers() -> Self {
        Self {
            hosts: Allow::Any,
            origins: Allow::Listed(Vec::new()),
            same_origin: false,
        }
    }

    /// Checks a request's `Host` (or the URI authority of an HTTP/2 request) and `Origin`.
    ///
    /// # Errors
    /// [`CrossSiteRefusal::UnexpectedHost`] for a `Host` outside the policy,
    /// [`CrossSiteRefusal::ForeignOrigin`] for an `Origin` outside it (`Origin: null`, sent by
    /// sandboxed frames and local files, is always foreign unless `*` is allowed).
    pub fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), CrossSiteRefusal> {
        let host = host.map(|h| h.trim().to_ascii_lowercase());
        if let Some(h) = &host {
            if !self.host_allowed(h) {
                return Err(CrossSiteRefusal::UnexpectedHost(h.clone()));
            }
        }
        let Some(origin) = origin else {
            return Ok(());
        };
        let normalized = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        let allowed = match &self.origins {
            Allow::Any => true,
            Allow::Listed(list) => list.contains(&normalized),
        } || (self.same_origin
            && host.as_deref().is_some_and(|h| same_origin(&normalized, h)));
        if allowed {
            Ok(())
        } else {
            Err(CrossSiteRefusal::ForeignOrigin(origin.trim().to_owned()))
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        let list = match &self.hosts {
            Allow::Any => return true,
            Allow::Listed(list) => list,
        };
        let (name, port) = split_host_port(host);
        if name == "localhost" || name.parse::<IpAddr>().is_ok() {
            return true;
        }
        list.iter().any(|entry| {
            let (entry_name, entry_port) = split_host_port(entry);
            entry_name == name && (entry_port.is_none() || entry_port == port)
        })
    }
}

fn extend<I, S>(current: Allow, values: I) -> Allow
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut list = match current {
        Allow::Any => return Allow::Any,
        Allow::Listed(list) => list,
    };
    for v in values {
        let v = v.as_ref().trim().to_ascii_lowercase();
        if v == "*" {
            return Allow::Any;
        }
        if !v.is_empty() {
            list.push(v);
        }
    }
    Allow::Listed(list)
}

/// `host[:port]` into the host (IPv6 brackets removed) and the port, if any.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, tail)) => (ip, tail.strip_prefix(':')),
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, Some(port)),
        _ => (authority, None),
    }
}

/// Whether `origin` (`scheme://host[:port]`, lower case) is the origin of a request to `host`
/// (`host[:port]`, lower case): same host, same port once the scheme's default port is applied.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let (origin_name, origin_port) = split_host_port(authority);
    let (host_name, host_port) = split_host_port(host);
    origin_name == host_name
        && origin_port.unwrap_or(default_port) == host_port.unwrap_or(default_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_host(p: &SitePolicy, host: &str) -> bool {
        matches!(
            p.check(Some(host), None),
            Err(CrossSiteRefusal::UnexpectedHost(_))
        )
    }

    #[test]
    fn ip_literals_and_localhost_are_accepted_hosts_names_are_not() {
        let p = SitePolicy::default();
        for host in [
            "127.0.0.1:9200",
            "[::1]:9200",
            "localhost:9200",
            "LOCALHOST",
            "10.0.0.5:9200",
            "[fe80::1]",
        ] {
            assert_eq!(p.check(Some(host), None), Ok(()), "{host}");
        }
        assert!(refused_host(&p, "evil.example:9200"));
        assert!(refused_host(&p, "localhost.evil.example:9200"));
        assert_eq!(p.check(None, None), Ok(()));
    }

    #[test]
    fn listed_hosts_match_by_name_and_optional_port() {
        let p = SitePolicy::default().allow_hosts(["admin.internal", "ops.internal:9200", ""]);
        assert_eq!(p.check(Some("Admin.Internal:1234"), None), Ok(()));
        assert_eq!(p.check(Some("ops.internal:9200"), None), Ok(()));
        assert!(refused_host(&p, "ops.internal:9300"));
        assert!(refused_host(&p, "other.internal"));
        let any = SitePolicy::default().allow_hosts(["*"]);
        assert_eq!(any.check(Some("evil.example"), None), Ok(()));
    }

    #[test]
    fn only_the_same_origin_or_a_listed_origin_is_accepted() {
        let p = SitePolicy::default().allow_origins(["https://ops.example.com/"]);
        let host = Some("127.0.0.1:9200");
        assert_eq!(p.check(host, Some("http://127.0.0.1:9200")), Ok(()));
        assert_eq!(p.check(Some("localhost"), Some("http://localhost")), Ok(()));
        assert_eq!(p.check(host, Some("https://ops.example.com")), Ok(()));
        for foreign in [
            "https://evil.example",
            "http://127.0.0.1:8000",
            "null",
            "http://10.0.0.9:9200",
        ] {
            assert_eq!(
                p.check(host, Some(foreign)),
                Err(CrossSiteRefusal::ForeignOrigin(foreign.into())),
                "{foreign}"
            );
        }
        assert!(p.check(None, Some("http://127.0.0.1:9200")).is_err());
        let any = SitePolicy::default().allow_origins(["*"]);
        assert_eq!(any.check(host, Some("null")), Ok(()));
    }

    #[test]
    fn no_browsers_accepts_any_host_and_no_origin() {
        let p = SitePolicy::no_browsers();
        assert_eq!(p.check(Some("mlnode-308:8080"), None), Ok(()));
        assert!(p
            .check(Some("mlnode-308:8080"), Some("http://mlnode-308:8080"))
            .is_err());
        let listed = SitePolicy::no_browsers().allow_origins(["http://ui.internal"]);
        assert_eq!(listed.check(Some("x"), Some("http://ui.internal")), Ok(()));
    }

    #[test]
    fn refusals_name_the_value() {
        let e = CrossSiteRefusal::ForeignOrigin("https://evil.example".into()).to_string();
        assert!(e.contains("https://evil.example"), "{e}");
        let e = CrossSiteRefusal::UnexpectedHost("evil.example:9200".into()).to_string();
        assert!(e.contains("evil.example:9200"), "{e}");
    }
}
