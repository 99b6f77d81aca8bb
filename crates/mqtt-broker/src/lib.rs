//! The mqtt-toolkit broker: an MQTT 3.1 / 3.1.1 / 5.0 broker that reads `mosquitto.conf`.
//!
//! The protocol lives in `mqtt-codec` and `mqtt-session`; this crate does I/O, routing, storage
//! and policy around them.
#![forbid(unsafe_code)]

pub mod config;
pub mod router;
