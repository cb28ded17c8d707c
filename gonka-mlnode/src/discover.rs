//! Finding a gateway on the local network by mDNS (`gonka-mlnode --discover`): the gateway
//! started with `--mdns` advertises its admin API as a `_gonka-gateway._tcp.local.` service;
//! the agent browses for it and joins the first one that resolves (see [`crate::join`]).

use std::net::IpAddr;
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent};

/// The DNS-SD service type a gateway's admin API is advertised under.
pub const GATEWAY_SERVICE_TYPE: &str = "_gonka-gateway._tcp.local.";

/// The standard mDNS port.
pub const MDNS_PORT: u16 = 5353;

/// How to look for a gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverSettings {
    /// UDP port of the mDNS traffic (default [`MDNS_PORT`]; tests use another).
    pub port: u16,
    /// Only the IPv4 loopback interface (tests); default: every interface.
    pub loopback_only: bool,
    /// How long one look lasts before it is given up (and started again by the caller).
    pub timeout: Duration,
}

impl Default for DiscoverSettings {
    fn default() -> Self {
        Self {
            port: MDNS_PORT,
            loopback_only: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Looks for an advertised gateway for at most `settings.timeout`; returns the base URL of its
/// admin API (`http://IP:PORT`), preferring an IPv4 address. `Err` says why none was found.
///
/// # Errors
/// A message: the mDNS daemon could not start, or no gateway answered in time.
pub async fn find_gateway(settings: &DiscoverSettings) -> Result<String, String> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || browse(&settings))
        .await
        .map_err(|e| format!("mDNS browse task failed: {e}"))?
}

fn browse(settings: &DiscoverSettings) -> Result<String, String> {
    let daemon = ServiceDaemon::new_with_port(settings.port)
        .map_err(|e| format!("cannot start mDNS on port {}: {e}", settings.port))?;
    if settings.loopback_only {
        daemon
            .disable_interface(IfKind::All)
            .and_then(|()| daemon.enable_interface(IfKind::LoopbackV4))
            .map_err(|e| format!("cannot limit mDNS to loopback: {e}"))?;
    }
    let found = daemon
        .browse(GATEWAY_SERVICE_TYPE)
        .map_err(|e| format!("cannot browse {GATEWAY_SERVICE_TYPE}: {e}"))
        .and_then(|events| {
            let deadline = std::time::Instant::now() + settings.timeout;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(format!(
                        "no gateway advertised {GATEWAY_SERVICE_TYPE} within {} s",
                        settings.timeout.as_secs()
                    ));
                }
                match events.recv_timeout(left) {
                    Ok(ServiceEvent::ServiceResolved(service)) => {
                        let mut ips: Vec<IpAddr> =
                            service.addresses.iter().map(|a| a.to_ip_addr()).collect();
                        ips.sort_by_key(|ip| (!ip.is_ipv4(), *ip));
                        if let Some(ip) = ips.first() {
                            let scheme = service
                                .txt_properties
                                .get_property_val_str("scheme")
                                .unwrap_or("http");
                            let host = match ip {
                                IpAddr::V4(v4) => v4.to_string(),
                                IpAddr::V6(v6) => format!("[{v6}]"),
                            };
                            return Ok(format!("{scheme}://{host}:{}", service.port));
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(format!(
                            "no gateway advertised {GATEWAY_SERVICE_TYPE} within {} s",
                            settings.timeout.as_secs()
                        ))
                    }
                }
            }
        });
    if let Ok(status) = daemon.shutdown() {
        let _ = status.recv_timeout(Duration::from_secs(1));
    }
    found
}
