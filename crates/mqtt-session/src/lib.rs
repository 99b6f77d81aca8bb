//! A sans-IO MQTT session: the protocol state machine for either end of a connection.
//!
//! A [`Session`] implements everything between the codec and the application: the QoS 1 and 2
//! flows in both directions (spec 4.3), packet identifiers, flow control with Receive Maximum,
//! the ordering rules (spec 4.6), keep-alive, topic aliases, message expiry, the peer's Maximum
//! Packet Size, and re-sending on resumption (spec 4.4). It is fed packets, commands and the
//! current time, and polled for packets to send, events and its next deadline. It never reads a
//! clock or touches a socket, so the same code drives the broker, the client, and deterministic
//! simulations in tests.
//!
//! # Example: a client and a server, joined by hand
//!
//! ```
//! use mqtt_codec::{ConnAck, Connect, MqttString, Packet, ProtocolVersion, QoS, TopicName};
//! use mqtt_session::{Config, Event, Instant, Message, Session};
//!
//! let now = Instant::from_millis(0);
//! let mut client = Session::new_client(Config::default());
//! let mut server = Session::new_server(Config::default());
//!
//! // The client connects; the server's application accepts the CONNECT.
//! let connect = Connect {
//!     protocol: ProtocolVersion::V5,
//!     client_id: MqttString::new("sensor-1")?,
//!     ..Connect::default()
//! };
//! client.connect(now, connect)?;
//! let Some(Packet::Connect(connect)) = client.poll_transmit(now) else { unreachable!() };
//! server.accept(now, &connect, ConnAck::default()).unwrap();
//! let connack = server.poll_transmit(now).unwrap();
//! client.handle_packet(now, connack);
//! assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
//!
//! // A QoS 2 message from client to server: PUBLISH, PUBREC, PUBREL, PUBCOMP.
//! let id = client.publish(now, Message::new(TopicName::new("a/b")?, "hello", QoS::ExactlyOnce))?;
//! loop {
//!     let mut idle = true;
//!     while let Some(p) = client.poll_transmit(now) { server.handle_packet(now, p); idle = false; }
//!     while let Some(p) = server.poll_transmit(now) { client.handle_packet(now, p); idle = false; }
//!     if idle { break; }
//! }
//! match server.poll_event() {
//!     Some(Event::Message { message, .. }) => assert_eq!(message.payload, "hello"),
//!     other => panic!("{other:?}"),
//! }
//! assert!(matches!(client.poll_event(), Some(Event::PublishCompleted { id: done, .. }) if done == id));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod alias;
mod config;
mod event;
mod message;
mod outbound;
mod session;
mod state;
mod time;
mod transmit;

pub use config::{Config, QueueLimits};
pub use event::{DropReason, Event, InboundAck, MessageId, PublishError, RequestError, Violation};
pub use message::Message;
pub use outbound::OutState;
pub use session::{ConnectionState, Role, Session};
pub use state::{HeldMessage, RestoreError, SessionState, STATE_FORMAT};
pub use time::Instant;
