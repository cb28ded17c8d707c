//! Handlers of the public OpenAI API, one file per endpoint group.

pub mod completions;
pub mod health;
pub mod metrics;
pub mod models;
