//! Bridges (`connection` blocks of `mosquitto.conf`): each one connects this broker to a remote
//! broker and carries messages between them along its `topic` lines, as Mosquitto's bridges do.
//!
//! A bridge has two ends:
//!
//! - on the remote side it is an ordinary MQTT client (`mqtt-client`, with TLS when
//!   configured): it subscribes there to the `in`/`both` topics and publishes there what it
//!   forwards;
//! - in this broker it is a session like a client's, attached to the shared state without a
//!   network connection (its client identifier is `local_clientid`): it subscribes to the
//!   `out`/`both` topics with No Local (the messages it brings in are not sent back) and
//!   Retain As Published, and publishes what it brings in. While the remote broker is
//!   unreachable, that session is offline, so messages for it queue as for any offline client
//!   (`max_queued_messages`), and are sent once the bridge is connected again. A QoS 1 or 2
//!   message leaves that session only once the remote broker has acknowledged it. Each time
//!   the bridge connects, the retained messages of the `out`/`both` topics go to the remote
//!   broker (as Mosquitto's `bridge__on_connect`).
//!
//! With `cleansession false` (and one address), the client reconnects by itself and resumes
//! its session on the remote broker, so QoS 1 and 2 messages in flight when a connection drops
//! complete on the next one without duplicates; the local session stays attached meanwhile.
//!
//! Loops with `both` are avoided as Mosquitto avoids them: MQTT 5 bridges subscribe on the
//! remote broker with No Local; MQTT 3.1/3.1.1 bridges connect with Mosquitto's private
//! protocol level (`try_private`, 0x83/0x84), after which a Mosquitto (or this broker) does not
//! send them their own messages. A remote broker that refuses that level is connected to again
//! with the standard level.
//!
//! With `notifications` (the default) the bridge's state is published as a retained `1`
//! (connected) or `0` on `notification_topic` (default
//! `$SYS/broker/connection/<remote_clientid>/state`) in this broker, and on the remote broker
//! too (`0` as the bridge's will there) unless `notifications_local_only`.
//!
//! Bridges bypass authentication and ACLs in this broker. They start with the server
//! ([`crate::server::Broker::run`]), are not changed by a reload (SIGHUP), and disconnect at
//! shutdown.

mod config;
mod runtime;
mod topic;

pub use config::{
    Bridge, BridgeAddress, BridgeTls, BridgeTopic, Direction, RestartTimeout, StartType,
};
pub(crate) use runtime::run;
