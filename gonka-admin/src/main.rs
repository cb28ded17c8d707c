//! `gonka-admin`: serves the admin API.
fn main() {}
