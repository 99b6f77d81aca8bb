//! The mqtt-toolkit broker: an MQTT 3.1 / 3.1.1 / 5.0 broker that reads `mosquitto.conf`.
//!
//! The protocol lives in `mqtt-codec` and `mqtt-session`; this crate does I/O, routing, storage
//! and policy around them:
//!
//! - [`server`]: listeners, the accept loop and graceful shutdown;
//! - `connection`: one task per client connection, driving its session;
//! - `hub`: shared state (sessions, subscriptions, retained messages) and routing;
//! - [`router`]: the subscription trie, shared subscriptions and the retained store;
//! - [`bridge`]: bridges to other brokers (`connection` blocks), each a client of the remote
//!   broker and a participant in this one;
//! - [`config`]: `mosquitto.conf` and TOML into one typed configuration.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let config = mqtt_broker::config::Config::local_only(Some(1883));
//! let broker = mqtt_broker::server::Broker::bind(config).await?;
//! broker.run().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod bridge;
pub mod cli;
mod client;
mod clock;
pub mod config;
mod connection;
mod hub;
pub mod log;
mod metrics;
mod mount;
pub mod privileges;
pub mod router;
mod security;
pub mod server;
pub mod store;
mod sys;
mod transport;

pub use hub::Hub;
pub use metrics::Metrics;
