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
use mqtt_session::Message;
use tokio::sync::{mpsc, oneshot, watch};

use crate::driver::{self, Command};
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

/// The messages the server sends, in order. Ends when the connection ends.
#[derive(Debug)]
pub struct Messages(mpsc::Receiver<Message>);

impl Messages {
    /// The next message, or `None` once the connection has ended and every message was received.
    pub async fn recv(&mut self) -> Option<Message> {
        self.0.recv().await
    }
}

/// A handle on a connection; clone it freely. Dropping every handle disconnects.
#[derive(Debug, Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
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
    let (commands, messages, closed, connected, online) = match started {
        Ok(result) => result?,
        Err(_) => return Err(timed_out()),
    };
    let connack = match tokio::time::timeout(timeout, connected).await {
        Ok(Ok(result)) => result?,
        Ok(Err(_)) => return Err(ClientError::ConnectionClosed),
        Err(_) => return Err(timed_out()),
    };
    let client = Client {
        commands,
        closed,
        online,
    };
    Ok((client, Messages(messages), *connack))
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
