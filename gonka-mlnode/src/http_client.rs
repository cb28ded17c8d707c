//! The HTTP client the agent uses towards engines.

/// No proxy from the environment (engines are on loopback), 5 s connect timeout, no overall
/// timeout (streams are long), `TCP_NODELAY`, and no idle connection kept for reuse: llama.cpp's
/// llama-server closes the connection after a streamed answer without saying so
/// (`Connection: close`), so a pooled connection would be reused dead and the next request would
/// fail with "error sending request". A new loopback connection per request costs microseconds.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}
