//! Benchmarks of the core's per-call decisions (being written).
fn main() {}
