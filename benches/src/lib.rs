//! Benchmarks of gonka: criterion benches in `benches/benches/` and the load harness in
//! `benches/load/` (see its README).
