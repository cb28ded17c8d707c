//! Advertising the gateway's admin API by mDNS (`--mdns`): a `_gonka-gateway._tcp.local.`
//! service whose address and port are the admin listener's, so agents started with
//! `gonka-mlnode --discover` find the gateway and join it. The advertisement is withdrawn when
//! the [`Advertiser`] is dropped (at shutdown).

use std::net::{IpAddr, SocketAddr};

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

/// The DNS-SD service type the admin API is advertised under (the agent browses the same).
pub const SERVICE_TYPE: &str = "_gonka-gateway._tcp.local.";

/// How the gateway advertises itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdnsSettings {
    /// UDP port of the mDNS traffic (default 5353; tests use another).
    pub port: u16,
    /// Only the IPv4 loopback interface (tests); default: every interface.
    pub loopback_only: bool,
}

impl Default for MdnsSettings {
    fn default() -> Self {
        Self {
            port: 5353,
            loopback_only: false,
        }
    }
}

/// A running advertisement; dropping it withdraws it and stops the mDNS daemon.
pub struct Advertiser {
    daemon: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Advertiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertiser")
            .field("fullname", &self.fullname)
            .finish()
    }
}

impl Advertiser {
    /// The advertised instance's full name (`gonka-gateway-<host>-<port>._gonka-gateway._tcp.local.`).
    pub fn fullname(&self) -> &str {
        &self.fullname
    }
}

impl Drop for Advertiser {
    fn drop(&mut self) {
        let _ = self.daemon.unregister(&self.fullname);
        let _ = self.daemon.shutdown();
    }
}

/// Starts advertising the admin API listening on `admin`: its IP when it is a specific one
/// (a loopback address reaches only agents on this machine), every interface's addresses when it
/// listens on all of them.
///
/// # Errors
/// A message when the mDNS daemon cannot start or the service cannot be registered.
pub fn advertise(admin: SocketAddr, settings: &MdnsSettings) -> Result<Advertiser, String> {
    let daemon = ServiceDaemon::new_with_port(settings.port)
        .map_err(|e| format!("cannot start mDNS on port {}: {e}", settings.port))?;
    if settings.loopback_only {
        daemon
            .disable_interface(IfKind::All)
            .and_then(|()| daemon.enable_interface(IfKind::LoopbackV4))
            .map_err(|e| format!("cannot limit mDNS to loopback: {e}"))?;
    }
    let host = hostname();
    let instance = format!("gonka-gateway-{host}-{}", admin.port());
    let properties = [("scheme", "http"), ("version", env!("CARGO_PKG_VERSION"))];
    let ips: Vec<IpAddr> = if admin.ip().is_unspecified() {
        Vec::new()
    } else {
        vec![admin.ip()]
    };
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &instance,
        &format!("{host}.local."),
        &ips[..],
        admin.port(),
        &properties[..],
    )
    .map_err(|e| format!("invalid mDNS service {instance}: {e}"))?;
    let info = if ips.is_empty() {
        info.enable_addr_auto()
    } else {
        info
    };
    let fullname = info.get_fullname().to_owned();
    daemon
        .register(info)
        .map_err(|e| format!("cannot advertise {fullname}: {e}"))?;
    tracing::info!(service = %fullname, %admin, "advertising the admin API by mDNS");
    Ok(Advertiser { daemon, fullname })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "gateway".to_owned())
}
