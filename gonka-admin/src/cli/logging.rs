//! Logging set-up for the binaries: `gonka_core::logging` (text or JSON lines, filtered by
//! `RUST_LOG`).

pub use gonka_core::logging::LogFormat;

/// Installs the global subscriber: level from `RUST_LOG` (default `info`), output on stderr.
/// Does nothing if a subscriber is already installed.
pub fn init_logging(format: LogFormat) {
    gonka_core::logging::init(format);
}
