//! Poll schedule simulation (being written).
fn main() {}
