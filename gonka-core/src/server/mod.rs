//! Server plumbing shared by the binaries' crates (feature `server`): the HTTP server loop with
//! client read timeouts ([`serve`], [`ServeLimits`]), the process shutdown signal
//! ([`shutdown_signal`]) and the OpenAI error body ([`openai_error`]).
//!
//! The ML node agent, the gateway and the admin API all serve through [`serve`], so a slow or
//! stalled client is cut the same way on every listener of a Gonka inference host.

mod openai_error;
mod serve;
mod shutdown;

pub use openai_error::{openai_error, openai_error_body};
pub use serve::{
    serve, serve_until, serve_with_drain, ServeLimits, BODY_READ_TIMEOUT, DEFAULT_DRAIN,
    HEADER_READ_TIMEOUT,
};
pub use shutdown::shutdown_signal;
