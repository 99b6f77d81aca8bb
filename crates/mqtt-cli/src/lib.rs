//! The shared parts of `mqtt-pub`, `mqtt-sub` and `mqtt-rr`: command-line options with
//! Mosquitto's names, defaults and error messages ([`args`]), and `mosquitto_sub`'s output
//! formats ([`format`](mod@format)).

pub mod args;
pub mod bench;
pub mod connection;
pub mod debug;
pub mod format;
