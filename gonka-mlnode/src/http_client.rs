//! The HTTP client the agent uses towards engines.

/// No proxy from the environment (engines are on loopback), 5 s connect timeout, no overall
/// timeout (streams are long), `TCP_NODELAY`.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
