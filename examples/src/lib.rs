//! Examples of embedding the gonka crates; each binary in `examples/` is runnable with
//! `cargo run -p gonka-examples --example NAME`.
