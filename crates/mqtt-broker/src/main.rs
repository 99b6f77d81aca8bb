//! The `mqtt-broker` binary.
fn main() {}
