//! How the gateway serves its listeners: the shared server loop of `gonka_core::server` (HTTP/1.1
//! and HTTP/2, TCP_NODELAY, graceful shutdown) with the gateway's limits: a header read timeout (a
//! client that trickles its request head, slowloris-style, is disconnected), a request body
//! timeout (a body that stops arriving ends the request with 408), connection caps per listener
//! and per client address (`--max-connections`, `--max-connections-per-ip`; a connection over a
//! cap is answered 503 and closed, and the process keeps descriptors in reserve for its upstream
//! and health-check connections), and a drain that waits for every open request (the gateway
//! bounds its drain itself, see `server.rs`).
//!
//! Used for the gateway's public, admin and PoC listeners.

use std::time::Duration;

pub use gonka_core::server::{serve, ServeLimits, BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT};

/// The limits of every gateway listener: the given client read timeouts (defaults
/// [`HEADER_READ_TIMEOUT`] and [`BODY_READ_TIMEOUT`], flags `--header-read-timeout` and
/// `--body-read-timeout`), the default connection caps (see [`ServeLimits::with_connection_caps`])
/// and no drain bound of the loop's own.
pub fn limits(header_read_timeout: Duration, body_read_timeout: Duration) -> ServeLimits {
    ServeLimits::client_timeouts(header_read_timeout, body_read_timeout)
}
