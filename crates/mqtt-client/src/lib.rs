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
//! By default a received QoS 1 or 2 message is acknowledged as soon as it arrives. With
//! [`ClientOptions::manual_acks`] the application acknowledges it with [`Client::ack`] once it
//! is safe (see there for an example): [`Messages::recv_with_ack`] gives each message with its
//! [`AckToken`].
//!
//! Transports, in layers: TCP (directly or through a SOCKS5 proxy, [`Socks5Proxy`]) or a
//! Unix-domain socket ([`Transport`]), then optionally TLS with rustls ([`TlsOptions`]), then
//! optionally WebSocket ([`WebSocketOptions`]): `mqtt`, `mqtts`, `ws` and `wss` as Mosquitto
//! serves them.

mod client;
mod driver;
mod error;
mod observe;
mod options;
mod transport;

pub use client::{connect, AckToken, Client, Delivery, Messages, PublishOutcome};
pub use error::{ClientError, ProxyErrorKind};
pub use observe::{Direction, PacketObserver};
pub use options::{ClientOptions, Reconnect, Transport};
pub use options::{Socks5Proxy, TlsOptions, TlsVersion, WebSocketOptions};
/// The rustls version [`TlsOptions`] uses, to build a [`TlsOptions::config`] of your own.
pub use tokio_rustls::rustls;

pub use mqtt_session::Message;
