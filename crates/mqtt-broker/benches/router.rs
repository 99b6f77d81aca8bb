//! Router benchmarks (placeholder).
fn main() {}
