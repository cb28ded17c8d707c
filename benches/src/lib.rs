//! Benchmarks of gonka: criterion benches in `benches/benches/` and the side-by-side load harness
//! in `benches/load/` (see its README). The library holds what both share: the lean mock OpenAI
//! worker ([`mock_worker`]), the answers it shares with the fake fleet ([`canned`]), the fixtures
//! the benches build their inputs from ([`fixtures`]) and the OTLP/HTTP trace sink the harness
//! exports the gateway's spans to ([`otlp_sink`]), and the accept loop they all serve with
//! ([`serve`]).

pub mod canned;
pub mod fixtures;
pub mod mock_worker;
pub mod otlp_sink;
pub mod serve;

/// The governance model every bench and the mock workers use.
pub const MODEL: &str = "Qwen/Qwen3-32B-FP8";
