//! Watching the packets a connection sends and receives, for debug output such as the
//! `-d` of Mosquitto's clients.

use std::fmt;
use std::sync::Arc;

use mqtt_codec::Packet;

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Written to the server.
    Sent,
    /// Read from the server.
    Received,
}

/// A callback that sees every packet of a connection, in order, as it is written or read.
///
/// It runs on the connection's task, so it should be quick (formatting a line is fine, blocking
/// I/O is not).
///
/// ```
/// use mqtt_client::{ClientOptions, Direction, PacketObserver};
/// let mut options = ClientOptions::tcp("localhost", 1883);
/// options.observer = Some(PacketObserver::new(|direction, packet| {
///     let verb = if direction == Direction::Sent { "sending" } else { "received" };
///     println!("{verb} {:?}", packet.packet_type());
/// }));
/// ```
#[derive(Clone)]
pub struct PacketObserver(Arc<ObserverFn>);

type ObserverFn = dyn Fn(Direction, &Packet) + Send + Sync;

impl PacketObserver {
    /// Wraps `f`.
    pub fn new(f: impl Fn(Direction, &Packet) + Send + Sync + 'static) -> Self {
        PacketObserver(Arc::new(f))
    }

    pub(crate) fn notify(&self, direction: Direction, packet: &Packet) {
        (self.0)(direction, packet);
    }
}

impl fmt::Debug for PacketObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PacketObserver(..)")
    }
}
