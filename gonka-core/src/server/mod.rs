//! Server plumbing shared by the binaries' crates (feature `server`): the HTTP server loop with
//! client read timeouts and connection caps ([`serve`], [`ServeLimits`]), the open-file limit
//! ([`raise_fd_limit`], the caps derived from it), the process shutdown signal
//! ([`shutdown_signal`]), the OpenAI error body ([`openai_error`]) and the liveness/readiness
//! answers ([`probe`]).
//!
//! The ML node agent, the gateway and the admin API all serve through [`serve`], so a slow or
//! stalled client is cut, and a flood of connections shed, the same way on every listener of a
//! Gonka inference host.

mod admission;
mod backoff;
mod body_timeout;
mod fd_limit;
mod openai_error;
pub mod probe;
mod serve;
mod shed;
mod shutdown;
#[cfg(feature = "tls")]
pub mod tls;

pub use backoff::{ACCEPT_BACKOFF_FIRST, ACCEPT_BACKOFF_MAX};
pub use fd_limit::{
    default_max_connections, default_max_connections_per_ip, fd_reserve, fd_soft_limit,
    process_connection_budget, raise_fd_limit, FdLimit, DEFAULT_MAX_CONNECTIONS_CEILING,
    FD_RESERVE_MAX, FD_RESERVE_MIN,
};
pub use openai_error::{openai_error, openai_error_body};
#[cfg(feature = "tls")]
pub use serve::serve_tls;
pub use serve::{
    serve, serve_until, serve_with_drain, HttpService, ServeLimits, BODY_READ_TIMEOUT,
    DEFAULT_DRAIN, HEADER_READ_TIMEOUT,
};
pub use shutdown::shutdown_signal;

#[cfg(test)]
mod tests;
