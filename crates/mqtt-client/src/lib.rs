//! An async MQTT 3.1 / 3.1.1 / 5.0 client for tokio, built on the sans-IO
//! [`mqtt_session::Session`] and [`mqtt_codec`].
//!
//! [`connect`] opens the connection and waits for the server's CONNACK. It returns a [`Client`]
//! handle (cheap to clone, usable from any task) and a [`Messages`] receiver for the messages the
//! server sends. A background task drives the session: it writes what the session has to send,
//! feeds it what arrives, keeps the connection alive (PINGREQ) and resolves each operation when
//! its protocol flow completes.
//!
//! ```no_run
//! use mqtt_client::{connect, ClientOptions};
//! use mqtt_codec::{QoS, TopicFilter, TopicName};
//!
//! # async fn run() -> Result<(), mqtt_client::ClientError> {
//! let options = ClientOptions::tcp("localhost", 1883);
//! let (client, mut messages, _connack) = connect(options).await?;
//! client.subscribe_one(TopicFilter::new("sensors/#")?, QoS::AtLeastOnce).await?;
//! // Resolves when the server has acknowledged the message (PUBACK).
//! client
//!     .publish(TopicName::new("sensors/1")?, "21.5", QoS::AtLeastOnce, false)
//!     .await?
//!     .await?;
//! if let Some(message) = messages.recv().await {
//!     println!("{}: {:?}", message.topic, message.payload);
//! }
//! client.disconnect().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Transports: TCP and Unix-domain sockets. TLS and WebSockets are not implemented yet.

mod client;
mod driver;
mod error;
mod observe;
mod options;
mod transport;

pub use client::{connect, Client, Delivery, Messages, PublishOutcome};
pub use error::ClientError;
pub use observe::{Direction, PacketObserver};
pub use options::{ClientOptions, Transport};

pub use mqtt_session::Message;
