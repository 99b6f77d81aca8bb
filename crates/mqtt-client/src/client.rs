//! The application's side: the [`Client`] handle, [`Delivery`] futures and the [`Messages`]
//! receiver.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use mqtt_codec::{
    ConnAck, Disconnect, QoS, ReasonCode, SubAck, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName, UnsubAck, UnsubscribeProperties,
};
use mqtt_session::{InboundAck, Message};
use tokio::sync::{mpsc, oneshot, watch};

use crate::driver::{self, AckRequest, Command, Delivered};
use crate::error::ClientError;
use crate::options::ClientOptions;

/// How an outgoing message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOutcome {
    /// The server's reason code in PUBACK, PUBREC or PUBCOMP (MQTT 5; `Success` before, and for
    /// QoS 0 once the message is handed to the connection).
    pub reason_code: ReasonCode,
}

/// Resolves when the protocol flow of one published message completes: written (QoS 0),
/// PUBACK (QoS 1), PUBCOMP or an error PUBREC (QoS 2).
#[derive(Debug)]
#[must_use = "a Delivery does nothing unless awaited; drop it to not wait"]
pub struct Delivery(oneshot::Receiver<Result<PublishOutcome, ClientError>>);

impl Future for Delivery {
    type Output = Result<PublishOutcome, ClientError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::ConnectionClosed)))
    }
}

/// The acknowledgement of one received QoS 1 or 2 message, with
/// [`ClientOptions::manual_acks`]: give it to [`Client::ack`] once the message is safe (stored,
/// forwarded, processed). Until then the server holds the message as unacknowledged, and sends
/// it again on a resumed session if the connection ends first.
///
/// A token belongs to the connection that received its message: given to another client it
/// acknowledges whatever that client received with the same Packet Identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckToken(pub(crate) InboundAck);

impl AckToken {
    /// The Packet Identifier of the PUBLISH it acknowledges.
    pub fn packet_id(&self) -> mqtt_codec::PacketId {
        self.0.packet_id()
    }
}

/// The messages the server sends, in order. Ends when the connection ends.
#[derive(Debug)]
pub struct Messages {
    received: mpsc::Receiver<Delivered>,
    /// Where [`Messages::recv`] sends the acknowledgements of the messages it hands out with
    /// manual acks; weak, so that it does not keep the connection open.
    acks: mpsc::WeakUnboundedSender<AckRequest>,
}

impl Messages {
    /// The next message, or `None` once the connection has ended and every message was received.
    ///
    /// With [`ClientOptions::manual_acks`], a QoS 1 or 2 message taken here is acknowledged at
    /// once; use [`Messages::recv_with_ack`] to acknowledge it later.
    pub async fn recv(&mut self) -> Option<Message> {
        let (message, ack) = self.received.recv().await?;
        self.ack_now(ack);
        Some(message)
    }

    /// The next message and, with [`ClientOptions::manual_acks`] for a QoS 1 or 2 message, the
    /// token that acknowledges it ([`Client::ack`]); `None` once the connection has ended and
    /// every message was received. Without manual acks the token is always `None`: the client
    /// acknowledged the message when it arrived.
    ///
    /// Cancel safe, as [`tokio::sync::mpsc::Receiver::recv`]: in a `select!`, a message is
    /// either returned or left for the next call.
    pub async fn recv_with_ack(&mut self) -> Option<(Message, Option<AckToken>)> {
        let (message, ack) = self.received.recv().await?;
        Some((message, ack.map(AckToken)))
    }

    /// A message already waiting, without waiting for one; see [`Messages::recv_with_ack`].
    /// `None` when none is waiting (or the connection has ended and every message was
    /// received): an application that stops receiving takes what is left this way.
    pub fn try_recv_with_ack(&mut self) -> Option<(Message, Option<AckToken>)> {
        let (message, ack) = self.received.try_recv().ok()?;
        Some((message, ack.map(AckToken)))
    }

    fn ack_now(&self, ack: Option<InboundAck>) {
        if let (Some(ack), Some(acks)) = (ack, self.acks.upgrade()) {
            let _ = acks.send((ack, ReasonCode::Success));
        }
    }
}

/// A handle on a connection; clone it freely. Dropping every handle disconnects.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    /// Acknowledgements of received messages (manual acks): unbounded, so that acknowledging
    /// never waits (there are at most as many as messages received and not yet acknowledged,
    /// which the server's in-flight window bounds).
    acks: mpsc::UnboundedSender<AckRequest>,
    closed: watch::Receiver<Option<Arc<ClientError>>>,
    online: watch::Receiver<bool>,
}

/// Connects, sends CONNECT and waits for the server's CONNACK.
///
/// Returns the client handle, the receiver of incoming messages and the CONNACK (whose Session
/// Present flag and MQTT 5 properties the application may need). A refusal is
/// [`ClientError::Refused`].
pub async fn connect(options: ClientOptions) -> Result<(Client, Messages, ConnAck), ClientError> {
    let timeout = options.connect_timeout;
    let started = tokio::time::timeout(timeout, driver::start(options)).await;
    let (commands, acks, messages, closed, connected, online) = match started {
        Ok(result) => result?,
        Err(_) => return Err(timed_out()),
    };
    let connack = match tokio::time::timeout(timeout, connected).await {
        Ok(Ok(result)) => result?,
        Ok(Err(_)) => return Err(ClientError::ConnectionClosed),
        Err(_) => return Err(timed_out()),
    };
    let messages = Messages {
        received: messages,
        acks: acks.downgrade(),
    };
    let client = Client {
        commands,
        acks,
        closed,
        online,
    };
    Ok((client, messages, *connack))
}

fn timed_out() -> ClientError {
    ClientError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "timed out connecting to the server",
    ))
}

impl Client {
    /// Publishes a message. Waits only while the client's queue is full (backpressure), then
    /// returns a [`Delivery`] that resolves when the message's QoS flow completes.
    pub async fn publish(
        &self,
        topic: TopicName,
        payload: impl Into<Bytes>,
        qos: QoS,
        retain: bool,
    ) -> Result<Delivery, ClientError> {
        let mut message = Message::new(topic, payload, qos);
        message.retain = retain;
        self.publish_message(message).await
    }

    /// Publishes a [`Message`] with its MQTT 5 properties; see [`Client::publish`].
    pub async fn publish_message(&self, message: Message) -> Result<Delivery, ClientError> {
        let (done, delivery) = oneshot::channel();
        self.send(Command::Publish { message, done }).await?;
        Ok(Delivery(delivery))
    }

    /// Subscribes to filters with their options; resolves with the server's SUBACK.
    pub async fn subscribe(
        &self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<SubAck, ClientError> {
        let (done, result) = oneshot::channel();
        self.send(Command::Subscribe {
            filters,
            properties,
            done,
        })
        .await?;
        result.await.unwrap_or(Err(ClientError::ConnectionClosed))
    }

    /// Subscribes to one filter at a QoS; resolves with the server's SUBACK.
    pub async fn subscribe_one(
        &self,
        filter: TopicFilter,
        qos: QoS,
    ) -> Result<SubAck, ClientError> {
        self.subscribe(
            vec![(filter, SubscriptionOptions::with_qos(qos))],
            SubscribeProperties::default(),
        )
        .await
    }

    /// Unsubscribes; resolves with the server's UNSUBACK.
    pub async fn unsubscribe(
        &self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<UnsubAck, ClientError> {
        let (done, result) = oneshot::channel();
        self.send(Command::Unsubscribe {
            filters,
            properties,
            done,
        })
        .await?;
        result.await.unwrap_or(Err(ClientError::ConnectionClosed))
    }

    /// Sends DISCONNECT (normal disconnection: the server discards the will) after everything
    /// queued before it, and closes the connection.
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        self.disconnect_with(Disconnect::default()).await
    }

    /// Sends this DISCONNECT (MQTT 5 reason code and properties) and closes the connection.
    pub async fn disconnect_with(&self, disconnect: Disconnect) -> Result<(), ClientError> {
        let (done, result) = oneshot::channel();
        self.send(Command::Disconnect { disconnect, done }).await?;
        result.await.unwrap_or(Err(ClientError::ConnectionClosed))
    }

    /// Acknowledges a message received with [`ClientOptions::manual_acks`]: PUBACK for QoS 1,
    /// PUBREC for QoS 2 (the client then completes the QoS 2 flow by itself). Never waits: the
    /// acknowledgement is sent as soon as the connection can carry it; while a
    /// [`ClientOptions::reconnect`] client is offline it waits for the resumed session (the
    /// server sends an unacknowledged message again on it, and the client does not deliver it
    /// twice). A token acknowledged twice, or of a session the server discarded, is ignored.
    ///
    /// Fails with [`ClientError::ConnectionClosed`] once the client has ended: the server then
    /// still holds the message as unacknowledged (and sends it again to a later connection
    /// that resumes the session).
    ///
    /// ```no_run
    /// use mqtt_client::{connect, ClientOptions};
    /// use mqtt_codec::{QoS, TopicFilter};
    ///
    /// # async fn store(_: &mqtt_client::Message) {}
    /// # async fn run() -> Result<(), mqtt_client::ClientError> {
    /// let mut options = ClientOptions::tcp("localhost", 1883);
    /// options.manual_acks = true;
    /// let (client, mut messages, _connack) = connect(options).await?;
    /// client.subscribe_one(TopicFilter::new("orders/#")?, QoS::AtLeastOnce).await?;
    /// while let Some((message, ack)) = messages.recv_with_ack().await {
    ///     store(&message).await;
    ///     // Only now does the server learn that the message was received (PUBACK).
    ///     if let Some(ack) = ack {
    ///         client.ack(ack)?;
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn ack(&self, token: AckToken) -> Result<(), ClientError> {
        self.ack_with(token, ReasonCode::Success)
    }

    /// [`Client::ack`] with an MQTT 5 reason code in the PUBACK or PUBREC, e.g.
    /// [`ReasonCode::NotAuthorized`]: an error code refuses the message (for QoS 2 the flow then
    /// ends at the PUBREC). Before MQTT 5 the code is not sent.
    pub fn ack_with(&self, token: AckToken, reason_code: ReasonCode) -> Result<(), ClientError> {
        self.acks
            .send((token.0, reason_code))
            .map_err(|_| ClientError::ConnectionClosed)
    }

    /// Waits until the connection has ended; returns why, or `None` after a normal disconnect.
    pub async fn closed(&self) -> Option<Arc<ClientError>> {
        let mut closed = self.closed.clone();
        loop {
            if closed.has_changed().is_err() {
                return closed.borrow().clone();
            }
            if closed.changed().await.is_err() {
                return closed.borrow().clone();
            }
        }
    }

    /// Watches whether the connection is up: `true` while connected; `false` from the loss
    /// of the connection until [`ClientOptions::reconnect`] has re-established it (its CONNACK
    /// received, the session resumed), and once the client has ended.
    pub fn connection_status(&self) -> watch::Receiver<bool> {
        self.online.clone()
    }

    async fn send(&self, command: Command) -> Result<(), ClientError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| ClientError::ConnectionClosed)
    }
}
